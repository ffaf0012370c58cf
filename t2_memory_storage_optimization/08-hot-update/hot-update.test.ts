/**
 * Checkpoint for 08-hot-update. `npm run checkpoint -- 08-hot-update` runs it against exercise.ts; plain
 * `npx vitest run` checks before.ts and after.ts. A service starts on version A of a corpus, a steady load of queries
 * runs through an update to version B, and every response is checked: did it fail, and are its hits exactly what
 * the version it names answers (the expected answers come from engines built apart, the way the service builds them).
 * Everything is counted, nothing timed.
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { implementations } from '../../shared/lab/checkpoint.ts';
import type { Embedder } from '../../shared/types.ts';
import { expectedAnswers, frozenEmbedder, loadVersions, queriesFor, type Versions } from './data.ts';
import { OpenLoad, signature, tally, type Expected, type Tally } from './load.ts';
import type { HotService, QueryResponse } from './service.ts';

type Mod = typeof import('./after.ts');

/** Requests per second of the checkpoint's load. */
const RATE = 100;

let versions: Versions;
let frozen: Embedder;
let queries: string[];
let expected: Expected;

beforeAll(async () => {
  versions = await loadVersions(16);
  frozen = await frozenEmbedder(versions.a);
  queries = queriesFor(versions, 24);
  expected = await expectedAnswers({ A: versions.a, B: versions.b }, queries, { embedder: frozen });
  // the versions answer differently (corpus statistics differ, so every BM25 score does): a mix cannot hide
  const same = queries.filter((q) => expected.get('A')!.get(q) === expected.get('B')!.get(q));
  expect(same.length).toBeLessThanOrEqual(2);
});

/** Holds back the embedding of chosen query texts until released: a query "in flight" for as long as a test needs. */
class GatedEmbedder implements Embedder {
  readonly name: string;
  readonly dim: number;
  private readonly held = new Map<string, { entered: () => void; released: Promise<void> }>();

  constructor(private readonly inner: Embedder) {
    this.name = inner.name;
    this.dim = inner.dim;
  }

  /** The next query embedding of `text` waits for `release()`; `entered` resolves when it starts waiting. */
  hold(text: string): { entered: Promise<void>; release: () => void } {
    let entered!: () => void;
    let release!: () => void;
    const enteredP = new Promise<void>((r) => (entered = r));
    const released = new Promise<void>((r) => (release = r));
    this.held.set(text, { entered, released });
    return { entered: enteredP, release };
  }

  async embed(texts: string[]): Promise<Float32Array[]> {
    const h = texts.length === 1 ? this.held.get(texts[0]) : undefined;
    if (h) {
      this.held.delete(texts[0]);
      h.entered();
      await h.released;
    }
    return this.inner.embed(texts);
  }
}

interface Answer {
  ok: boolean;
  body?: QueryResponse;
  error?: string;
}

/** One query, on a connection of its own. */
async function ask(url: string, q: string): Promise<Answer> {
  try {
    const res = await fetch(`${url}/query`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', connection: 'close' },
      body: JSON.stringify({ q, k: 10 }),
    });
    if (res.status !== 200) return { ok: false, error: `HTTP ${res.status}` };
    return { ok: true, body: (await res.json()) as QueryResponse };
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause;
    return { ok: false, error: cause?.code ?? (err as Error).message };
  }
}

/** Which version's answer `body` is for `q`, if any. */
function whose(q: string, body: QueryResponse): string | undefined {
  const sig = signature(body.hits);
  return [...expected.keys()].find((v) => expected.get(v)!.get(q) === sig);
}

const describeReasons = (t: Tally) =>
  Object.entries(t.reasons)
    .map(([why, n]) => `${n} × ${why}`)
    .join(', ');

const open: HotService[] = [];
async function start(impl: Mod, embedder: Embedder = frozen): Promise<HotService> {
  const s = await impl.startService(versions.a, 'A', { embedder });
  open.push(s);
  return s;
}

afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
});

describe.each(await implementations<Mod>(import.meta.url))('%s', (name, impl) => {
  /** One update A → B under a steady load, made once per implementation and read by the tests below. */
  let run: Promise<{ all: Tally; during: Tally; answeredDuring: number; sentDuring: number }> | undefined;
  const loadedUpdate = () =>
    (run ??= (async () => {
      const service = await impl.startService(versions.a, 'A', { embedder: frozen });
      try {
        const load = new OpenLoad({ url: service.url, queries, rate: RATE }).start();
        await sleep(100); // some load before the update (shaping the load, not measuring it)
        const t0 = performance.now();
        await service.update(versions.b, 'B');
        const t1 = performance.now();
        await sleep(100);
        const outcomes = await load.stop();
        return {
          all: tally(outcomes, expected),
          during: tally(outcomes, expected, t0, t1),
          answeredDuring: outcomes.filter((o) => o.ok && o.due >= t0 && o.done <= t1).length,
          sentDuring: outcomes.filter((o) => o.due >= t0 && o.due <= t1).length,
        };
      } finally {
        await service.close();
      }
    })());

  it('answers every query from the index it serves, and names it', async () => {
    const service = await start(impl);
    for (const q of queries) {
      const r = await ask(service.url, q);
      expect(r.ok, `"${q}": ${r.error}`).toBe(true);
      expect(r.body!.version).toBe('A');
      expect(whose(q, r.body!), `"${q}" answered with hits that are not version A's`).toBe('A');
    }
  });

  it('after update() resolves, new requests are answered from the new version', async () => {
    const service = await start(impl);
    await service.update(versions.b, 'B');
    expect(service.version).toBe('B');
    for (const q of queries) {
      const r = await ask(service.url, q);
      expect(r.ok, `"${q}" after the update: ${r.error}`).toBe(true);
      expect(r.body!.version, `"${q}" after the update`).toBe('B');
      expect(whose(q, r.body!), `"${q}" after the update answered with hits that are not version B's`).toBe('B');
    }
  });

  it('under load during an update, every response comes wholly from the old or wholly from the new index', async () => {
    const { all } = await loadedUpdate();
    expect(all.requests - all.failed).toBeGreaterThan(0);
    expect(
      all.mixed,
      `${all.mixed} of ${all.requests - all.failed} responses mixed the old and the new index (${all.mixedExample}): ` +
        `a request must be answered from one complete version and name it`,
    ).toBe(0);
  });

  it('two updates called one after the other both apply, in call order', async () => {
    const service = await start(impl);
    await Promise.all([service.update(versions.b, 'B'), service.update(versions.a, 'A')]);
    expect(service.version).toBe('A');
    const r = await ask(service.url, queries[0]);
    expect(r.body?.version).toBe('A');
    expect(whose(queries[0], r.body!)).toBe('A');
  });

  it('close() releases the port', async () => {
    const service = await impl.startService(versions.a, 'A', { embedder: frozen });
    await service.close();
    expect((await ask(service.url, queries[0])).ok).toBe(false);
  });

  // What a hot update promises; before.ts stops the server to update by design, so it is exempt.
  describe.skipIf(name === 'before')('a hot update', () => {
    it('fails no request under concurrent load during an update', async () => {
      const { during, all } = await loadedUpdate();
      expect(during.requests, 'the load sent nothing during the update').toBeGreaterThan(0);
      expect(
        all.failed,
        `${all.failed} of ${all.requests} requests failed during the update (${describeReasons(all)}): the old index ` +
          `was complete and consistent until the new one replaced it, and could have answered them`,
      ).toBe(0);
    });

    it('keeps answering queries while the new index is being built', async () => {
      const { answeredDuring, sentDuring } = await loadedUpdate();
      expect(
        answeredDuring,
        `0 of the ${sentDuring} requests sent during the update were answered before it finished: the service ` +
          `stopped answering (or the build held the thread) until the new index was in`,
      ).toBeGreaterThan(0);
    });

    it('a query in flight at the swap finishes on the index it started on, and names it', async () => {
      const gate = new GatedEmbedder(frozen);
      const service = await start(impl, gate);
      const q = queries[1];
      const held = gate.hold(q);
      const inFlight = ask(service.url, q);
      await held.entered; // the query is inside the engine now, waiting for its embedding
      let updated = false;
      const updating = service.update(versions.b, 'B').then(() => (updated = true));
      // until the swap, other queries must still be answered; a server that stops instead cannot finish the update
      // while this query is held, so stop probing as soon as one fails
      let stopped: string | undefined;
      while (!updated) {
        const probe = await ask(service.url, queries[2]);
        if (!probe.ok) {
          stopped = probe.error;
          break;
        }
      }
      held.release();
      const r = await inFlight;
      await updating;
      expect(stopped, `the service stopped answering (${stopped}) while a query was in flight during the update`).toBeUndefined();
      expect(r.ok, `a query in flight during the swap failed: ${r.error}`).toBe(true);
      const from = whose(q, r.body!);
      expect(
        `${r.body!.version} with ${from ? `version ${from}'s hits` : 'hits of neither version'}`,
        `a query in flight during the swap was answered as version ${r.body!.version} with ` +
          `${from ? `version ${from}'s hits` : 'hits of neither version'}: it started on version A and must finish there, and say so`,
      ).toBe("A with version A's hits");
      const after = await ask(service.url, q);
      expect(after.body?.version).toBe('B');
    });
  });
});
