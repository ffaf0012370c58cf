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

describe.each(await implementations<Mod>(import.meta.url))('%s', (name, impl) => {
  let embedder: ChunkEmbedder;
  beforeAll(async () => {
    embedder = await impl.createChunkEmbedder({ sifState: sif.state(), threads: 2, docsPerTask: 3 });
  });
  afterAll(async () => {
    await embedder?.close();
  });

  it.each(RETURN_MODES)('returns exactly the main thread’s chunks and vectors (rows returned by %s)', async (mode) => {
    const out = await embedder.embedDocs(docs, { mode });
    expect(out.ids).toEqual(reference.ids);
    expect(out.dim).toBe(reference.dim);
    expect(out.vectors.length).toBe(reference.ids.length * reference.dim);
    expect(bytes(out.vectors).equals(bytes(reference.vectors))).toBe(true);
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
