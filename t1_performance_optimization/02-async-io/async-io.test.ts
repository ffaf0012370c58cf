/**
 * Checkpoint for 02-async-io. `npm run checkpoint -- 02-async-io` runs it against exercise.ts; plain
 * `npx vitest run` checks before.ts and after.ts. The embedding service runs on 127.0.0.1:0 with 5 ms latency.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { implementations } from '../../shared/lab/checkpoint.ts';
import { removeCorpus, writeCorpus } from './data.ts';
import type { EmbedClient, Embedded, EmbedOptions } from './embed-file.ts';
import { FAIL_MARKER, hashEmbed, startEmbedService, type EmbedService } from './embed-service.ts';

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
    for (const way of Object.values(ways)) {
      service.resetStats();
      const out = await way(files, { concurrency });
      expect(out).toHaveLength(N);
      const s = service.stats();
      expect(s.calls).toBe(N);
      expect(s.maxInFlight).toBeLessThanOrEqual(concurrency);
    }
  });

  // The point of the lesson: the bound is used, not only respected. before.ts is sequential on purpose.
  it.skipIf(name === 'before')('overlaps the calls (more than one in flight when allowed)', async () => {
    for (const way of Object.values(ways)) {
      service.resetStats();
      await way(files, { concurrency: 4 });
      expect(service.stats().maxInFlight).toBeGreaterThan(1);
    }
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
