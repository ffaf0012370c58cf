/**
 * Checkpoint for 02-async-io. `npm run checkpoint -- 02-async-io` runs it against exercise.ts; plain
 * `npx vitest run` checks before.ts and after.ts.
 *
 * Two kinds of test. Against the real thing (files on disk, the embedding service on 127.0.0.1:0 with 5 ms latency):
 * results, order, errors. And by hand, for the scheduling itself: `embedFile` is replaced by calls that finish only
 * when the test says so, so "how many calls are in flight after this one finished" is counted, not timed, and the
 * answer is the same on any machine under any load.
 */
import { writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { implementations } from '../../shared/lab/checkpoint.ts';
import { removeCorpus, writeCorpus } from './data.ts';
import type { EmbedClient, Embedded, EmbedOptions } from './embed-file.ts';
import { FAIL_MARKER, hashEmbed, startEmbedService, type EmbedService } from './embed-service.ts';

/** While `byHand.embed` is set, every import of embed-file.ts (after.ts, exercise.ts...) calls it instead of the real embedFile. */
const byHand = vi.hoisted(() => ({ embed: undefined as undefined | ((file: string) => Promise<unknown>) }));
vi.mock('./embed-file.ts', async (importOriginal) => {
  const real = await importOriginal<typeof import('./embed-file.ts')>();
  return {
    ...real,
    embedFile: (file: string, client: EmbedClient) => (byHand.embed ? byHand.embed(file) : real.embedFile(file, client)),
  };
});

/** embedFile calls that finish when the test says so. */
class HeldCalls {
  /** Files in the order their calls started. */
  readonly started: string[] = [];
  readonly done = new Set<string>();
  private readonly held = new Map<string, (e: Embedded) => void>();

  readonly embed = (file: string): Promise<Embedded> =>
    new Promise((resolve) => {
      this.started.push(file);
      this.held.set(file, resolve);
    });

  get inFlight(): number {
    return this.held.size;
  }

  /** Files whose calls are running, oldest first. */
  get running(): string[] {
    return [...this.held.keys()];
  }

  finish(file: string): void {
    const resolve = this.held.get(file);
    if (!resolve) throw new Error(`${file} is not in flight`);
    this.held.delete(file);
    this.done.add(file);
    resolve({ id: basename(file), chars: 0, vector: [this.started.indexOf(file)] });
  }
}

/** Let every promise chain that can move, move: nothing here waits on I/O, so a few turns of the loop are enough. */
async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await new Promise<void>((r) => setImmediate(r));
}

/** Which running call to finish next: the oldest, then the newest, alternately (a slow head, then a slow tail). */
const pick = (calls: HeldCalls, step: number): string => (step % 2 === 0 ? calls.running[0] : calls.running[calls.running.length - 1]);

const HAND_FILES = Array.from({ length: 10 }, (_, i) => `/by-hand/f${String(i).padStart(2, '0')}.txt`);
const HAND_CLIENT: EmbedClient = { url: 'http://by-hand.invalid' };

/** Pulls the stream as fast as it yields, into `into`. */
async function consume(stream: AsyncIterable<Embedded>, into: string[]): Promise<void> {
  for await (const e of stream) into.push(e.id);
}

interface Mod {
  embedAll(files: string[], client: EmbedClient, opts?: EmbedOptions): Promise<Embedded[]>;
  embedStream(files: string[], client: EmbedClient, opts?: EmbedOptions): AsyncIterable<Embedded>;
}

const N = 30;
let dir = '';
let files: string[] = [];
let service: EmbedService;

beforeAll(async () => {
  ({ dir, files } = await writeCorpus(N));
  service = await startEmbedService({ latencyMs: 5 });
});
afterAll(async () => {
  await service?.close();
  if (dir) await removeCorpus(dir);
});

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

describe.each(await implementations<Mod>(import.meta.url))('%s', (name, impl) => {
  const ways = {
    embedAll: (f: string[], opts?: EmbedOptions) => impl.embedAll(f, service, opts),
    embedStream: (f: string[], opts?: EmbedOptions) => collect(impl.embedStream(f, service, opts)),
  };

  it('embedAll and embedStream give the same vectors, in input order, as embedding each file alone', async () => {
    const all = await ways.embedAll(files, { concurrency: 4 });
    const streamed = await ways.embedStream(files, { concurrency: 4 });
    expect(all.map((e) => e.id)).toEqual(files.map((f) => f.split('/').pop()));
    expect(streamed).toEqual(all);
    expect(all[0].vector).toHaveLength(64);
    // spot-check against the service's function
    const { readFile } = await import('node:fs/promises');
    expect(all[7].vector).toEqual(hashEmbed(await readFile(files[7], 'utf8'), 64));
  });

  it.each([1, 3, 8])('never has more than concurrency = %i calls in flight at the service', async (concurrency) => {
    for (const [fn, way] of Object.entries(ways)) {
      service.resetStats();
      const out = await way(files, { concurrency });
      expect(out).toHaveLength(N);
      const s = service.stats();
      expect(s.calls).toBe(N);
      expect(s.maxInFlight, `${fn}: ${s.maxInFlight} calls in flight, bound ${concurrency}`).toBeLessThanOrEqual(concurrency);
    }
  });

  // The point of the lesson: the bound is used, not only respected. before.ts is sequential on purpose.
  describe.skipIf(name === 'before')('a sliding window, counted by hand', () => {
    const c = 3;
    const n = HAND_FILES.length;
    afterEach(() => {
      byHand.embed = undefined;
    });

    it(`embedAll: at most ${c} calls in flight, and a finished call's slot goes to the next file at once`, async () => {
      const calls = new HeldCalls();
      byHand.embed = calls.embed;
      let result: Embedded[] | undefined;
      const run = impl.embedAll(HAND_FILES, HAND_CLIENT, { concurrency: c }).then((r) => (result = r));
      for (let step = 0; ; step++) {
        await settle();
        const waiting = n - calls.started.length;
        expect(calls.inFlight, `embedAll: ${calls.inFlight} calls in flight, bound ${c}`).toBeLessThanOrEqual(c);
        expect(
          calls.inFlight,
          `embedAll: only ${calls.inFlight} call(s) in flight with concurrency ${c} while ${waiting} file(s) waited to start ` +
            `(${calls.done.size} done so far): when a call finishes, the next file must take its slot at once, ` +
            `not when the slowest call of its batch is done`,
        ).toBe(Math.min(c, n - calls.done.size));
        if (calls.inFlight === 0) break;
        calls.finish(pick(calls, step));
      }
      await run;
      expect(result?.map((e) => e.id)).toEqual(HAND_FILES.map((f) => basename(f)));
    });

    it(`embedStream: at most ${c} calls in flight, and the next file starts as soon as the oldest is done`, async () => {
      const calls = new HeldCalls();
      byHand.embed = calls.embed;
      const yielded: string[] = [];
      const run = consume(impl.embedStream(HAND_FILES, HAND_CLIENT, { concurrency: c }), yielded);
      for (let step = 0; ; step++) {
        await settle();
        const started = calls.started.length;
        let prefix = 0; // files done in input order, with nothing before them still running
        while (prefix < n && calls.done.has(HAND_FILES[prefix])) prefix++;
        expect(calls.inFlight, `embedStream: ${calls.inFlight} calls in flight, bound ${c}`).toBeLessThanOrEqual(c);
        expect(
          started,
          `embedStream: only ${started - prefix} file(s) started beyond the ${prefix} done in order, with concurrency ${c}, ` +
            `while ${n - started} file(s) waited to start: when the oldest call is done, the next file must start at once`,
        ).toBeGreaterThanOrEqual(Math.min(n, prefix + c));
        if (calls.inFlight === 0) break;
        calls.finish(pick(calls, step));
      }
      await run;
      expect(yielded).toEqual(HAND_FILES.map((f) => basename(f)));
    });

    it(`embedStream: a slow first file holds back at most 2 × ${c} started files, however long the corpus`, async () => {
      const files = Array.from({ length: 5 * c }, (_, i) => `/by-hand/g${String(i).padStart(2, '0')}.txt`);
      const calls = new HeldCalls();
      byHand.embed = calls.embed;
      const yielded: string[] = [];
      const run = consume(impl.embedStream(files, HAND_CLIENT, { concurrency: c }), yielded);
      // The first file's call hangs; every other call finishes as soon as it starts.
      for (let seen = -1; seen !== calls.started.length; ) {
        seen = calls.started.length;
        await settle();
        for (const f of calls.running) if (f !== files[0]) calls.finish(f);
        await settle();
      }
      const waiting = calls.started.length - yielded.length;
      expect(
        waiting,
        `embedStream: ${waiting} files started and not yet yielded while the first was still running, ` +
          `bound 2 × concurrency = ${2 * c}: results pile up behind a slow head, so memory grows with the corpus instead of the window`,
      ).toBeLessThanOrEqual(2 * c);
      while (calls.inFlight > 0) {
        for (const f of calls.running) calls.finish(f);
        await settle();
      }
      await run;
      expect(yielded).toEqual(files.map((f) => basename(f)));
    });
  });

  it('returns nothing for no files', async () => {
    expect(await ways.embedAll([])).toEqual([]);
    expect(await ways.embedStream([])).toEqual([]);
  });

  it.each([0, -1, 1.5])('rejects concurrency = %s with a RangeError', async (concurrency) => {
    await expect(ways.embedAll(files, { concurrency })).rejects.toThrow(RangeError);
    await expect(ways.embedStream(files, { concurrency })).rejects.toThrow(RangeError);
  });

  it('names the missing file when one cannot be read', async () => {
    const withMissing = [...files.slice(0, 5), join(dir, 'missing.txt'), ...files.slice(5, 10)];
    for (const way of Object.values(ways)) {
      await expect(way(withMissing, { concurrency: 3 })).rejects.toThrow(/missing\.txt: cannot read .*ENOENT/);
    }
  });

  it('names the file and the status when the service fails on it', async () => {
    const bad = join(dir, 'zz-bad.txt');
    await writeFile(bad, `some text ${FAIL_MARKER} more text`);
    const withBad = [...files.slice(0, 4), bad, ...files.slice(4, 8)];
    for (const way of Object.values(ways)) {
      await expect(way(withBad, { concurrency: 3 })).rejects.toThrow(/zz-bad\.txt: embedding service answered 500/);
    }
  });

  it('streams every result before a failing file, in order, then throws', async () => {
    const bad = join(dir, 'zz-bad2.txt');
    await writeFile(bad, FAIL_MARKER);
    const withBad = [...files.slice(0, 6), bad, ...files.slice(6, 9)];
    const seen: string[] = [];
    await expect(
      (async () => {
        for await (const e of impl.embedStream(withBad, service, { concurrency: 3 })) seen.push(e.id);
      })(),
    ).rejects.toThrow(/zz-bad2\.txt/);
    expect(seen).toEqual(files.slice(0, 6).map((f) => f.split('/').pop()));
  });
});
