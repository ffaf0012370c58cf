/**
 * Checkpoint for 05-worker-pool. `npm run checkpoint -- 05-worker-pool` runs it against exercise.ts; plain
 * `npx vitest run` checks before.ts and after.ts. The reference is the work function itself, called on the main
 * thread: the pool must return exactly the same chunk ids and the same vector bytes.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chunkDocument } from '../../shared/corpus/chunk.ts';
import { loadBrown } from '../../shared/corpus/brown.ts';
import { createDefaultEmbedder, type SifEmbedder } from '../../shared/embed/sif.ts';
import { indexText } from '../../shared/corpus/chunk.ts';
import { implementations } from '../../shared/lab/checkpoint.ts';
import type { Doc } from '../../shared/types.ts';
import { bytesCopied, watchPool, type PoolWatch, type Runnable } from './probe.ts';
import type { ChunkEmbedder } from './types.ts';
import { chunkAndEmbed, RETURN_MODES, type EmbeddedChunks } from './work.ts';

type Mod = typeof import('./after.ts');

let docs: Doc[];
let sif: SifEmbedder;
let reference: EmbeddedChunks;

beforeAll(async () => {
  docs = (await loadBrown({ limit: 18 })).map((d) => ({ ...d, text: d.text.slice(0, 5000) }));
  sif = await createDefaultEmbedder();
  await sif.fit(docs.flatMap((d) => chunkDocument(d)).map(indexText));
  reference = chunkAndEmbed(sif, docs, 0);
});

const bytes = (v: Float32Array) => Buffer.from(v.buffer, v.byteOffset, v.byteLength);

const THREADS = 2;
const DOCS_PER_TASK = 3;

describe.each(await implementations<Mod>(import.meta.url))('%s', (name, impl) => {
  let embedder: ChunkEmbedder;
  /** Counts what embedDocs asks of the pool (probe.ts); before.ts has no pool. */
  let watch: PoolWatch | undefined;
  beforeAll(async () => {
    embedder = await impl.createChunkEmbedder({ sifState: sif.state(), threads: THREADS, docsPerTask: DOCS_PER_TASK });
    const pool = (embedder as Partial<{ pool: Runnable }>).pool;
    watch = pool ? watchPool(pool) : undefined;
  });
  afterAll(async () => {
    watch?.restore();
    await embedder?.close();
  });

  it.each(RETURN_MODES)('returns exactly the main thread’s chunks and vectors (rows returned by %s)', async (mode) => {
    watch?.reset();
    const out = await embedder.embedDocs(docs, { mode });
    expect(out.ids).toEqual(reference.ids);
    expect(out.dim).toBe(reference.dim);
    expect(out.vectors.length).toBe(reference.ids.length * reference.dim);
    expect(bytes(out.vectors).equals(bytes(reference.vectors))).toBe(true);
    if (watch) expect([...watch.counts.modes], `the tasks asked for rows by ${[...watch.counts.modes].join(', ')}, the caller for ${mode}`).toEqual([mode]);
  });

  it('gives the same result whatever the parallelism', async () => {
    const one = await embedder.embedDocs(docs, { parallelism: 1 });
    const two = await embedder.embedDocs(docs, { parallelism: 2 });
    expect(two.ids).toEqual(one.ids);
    expect(bytes(two.vectors).equals(bytes(one.vectors))).toBe(true);
  });

  it('runs tasks concurrently without mixing them up', async () => {
    const [a, b] = await Promise.all([embedder.embedDocs(docs.slice(0, 9)), embedder.embedDocs(docs.slice(9))]);
    expect([...a.ids, ...b.ids]).toEqual(reference.ids);
    expect(bytes(a.vectors).equals(bytes(reference.vectors).subarray(0, a.vectors.byteLength))).toBe(true);
  });

  it('returns nothing for no documents', async () => {
    const out = await embedder.embedDocs([]);
    expect(out.ids).toEqual([]);
    expect(out.vectors.length).toBe(0);
  });

  it('rejects when a task fails, naming the bad document, and keeps working afterwards', async () => {
    const bad = [...docs.slice(0, 4), { id: 'broken-doc', text: 42 } as unknown as Doc, ...docs.slice(4, 6)];
    await expect(embedder.embedDocs(bad)).rejects.toThrow(/document #4 \(broken-doc\)/);
    const again = await embedder.embedDocs(docs.slice(0, 2));
    expect(again.ids).toEqual(reference.ids.slice(0, again.ids.length));
  });

  // What embedDocs asks of the pool, counted (probe.ts), never timed. before.ts runs on the main thread: no pool.
  describe.skipIf(name === 'before')('what one batch asks of the pool', () => {
    it(`keeps every thread busy: ${THREADS} tasks in flight on ${THREADS} threads`, async () => {
      watch!.reset();
      await embedder.embedDocs(docs);
      const { tasks, maxInFlight } = watch!.counts;
      const want = Math.min(THREADS, docs.length);
      expect(
        maxInFlight,
        `at most ${maxInFlight} task${maxInFlight === 1 ? '' : 's'} in flight on ${THREADS} threads (${tasks} task` +
          `${tasks === 1 ? '' : 's'} for ${docs.length} documents): ${want - maxInFlight} thread` +
          `${want - maxInFlight === 1 ? '' : 's'} sat idle while the batch was embedded`,
      ).toBeGreaterThanOrEqual(want);
    });

    it.each(['default', 1] as const)('never has more tasks in flight than parallelism allows (parallelism %s)', async (p) => {
      const parallelism = p === 'default' ? undefined : p;
      watch!.reset();
      await embedder.embedDocs(docs, parallelism === undefined ? {} : { parallelism });
      const { tasks, maxInFlight } = watch!.counts;
      const bound = parallelism ?? THREADS;
      expect(
        maxInFlight,
        `${maxInFlight} tasks in flight at once, bound ${bound} (parallelism ${parallelism ?? `default: ${THREADS} threads`}, ` +
          `${tasks} tasks): the rest wait in the pool's queue, which has no bound`,
      ).toBeLessThanOrEqual(bound);
    });

    it('moves the rows back to the main thread instead of copying them (by default)', async () => {
      watch!.reset();
      const out = await embedder.embedDocs(docs);
      const copied = bytesCopied(watch!.counts);
      expect(
        copied,
        `${copied.toLocaleString('en-US')} bytes of rows copied between threads for one batch of ` +
          `${out.vectors.byteLength.toLocaleString('en-US')} (${[...watch!.counts.modes].join(', ')}), ` +
          `${watch!.counts.bytes.transfer.toLocaleString('en-US')} transferred: the worker has no further use for its ` +
          `rows, so their buffer can change owner without a copy`,
      ).toBe(0);
    });
  });

  it('closes cleanly: the process exits by itself after close()', async () => {
    const script = fileURLToPath(new URL('./exit-check.ts', import.meta.url));
    const moduleUrl = new URL(`./${name}.ts`, import.meta.url).href;
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', script, moduleUrl], { timeout: 60_000 });
    expect(stdout.trim()).toBe('ok');
  });

  it('rejects calls after close()', async () => {
    const e = await impl.createChunkEmbedder({ sifState: sif.state(), threads: 1 });
    await e.close();
    await expect(e.embedDocs(docs.slice(0, 1))).rejects.toThrow(/closed/);
  });
});
