/**
 * Checkpoint for 04-event-pipeline. `npm run checkpoint -- 04-event-pipeline` runs it against exercise.ts; plain
 * `npx vitest run` checks before.ts and after.ts. The reference is a plain loop: chunk every document, embed in
 * batches, index, in order.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { beforeAll, describe, expect, it } from 'vitest';
import { chunkDocument } from '../../shared/corpus/chunk.ts';
import { loadBrown } from '../../shared/corpus/brown.ts';
import { createDefaultEmbedder, type SifEmbedder } from '../../shared/embed/sif.ts';
import { indexText } from '../../shared/corpus/chunk.ts';
import { isRagError } from '../../shared/errors.ts';
import { implementations } from '../../shared/lab/checkpoint.ts';
import { defaultAnalyzer } from '../../shared/text/analyzer.ts';
import type { Chunk, Doc } from '../../shared/types.ts';
import { probeRun } from './probe.ts';
import type { PipelineOptions, PipelineResult } from './stages.ts';

type Mod = typeof import('./after.ts');

const CHUNK = { maxTokens: 120, overlapTokens: 20 };
let docs: Doc[];
let sif: SifEmbedder;
let expected: Chunk[];

beforeAll(async () => {
  docs = await loadBrown({ limit: 24 });
  sif = await createDefaultEmbedder();
  expected = docs.flatMap((d) => chunkDocument(d, CHUNK));
  await sif.fit(expected.map(indexText));
});

const options = (extra: Partial<PipelineOptions> = {}): PipelineOptions => ({ embedder: sif, chunk: CHUNK, batchSize: 16, ...extra });

const QUERIES = ['the jury said the election was conducted', 'hospital patients and nurses', 'tax bill in the legislature', 'baseball game'];

function searchBoth(r: PipelineResult) {
  return QUERIES.map((q) => ({
    bm25: r.bm25.search(defaultAnalyzer.analyze(q), 10),
    dense: r.vectors.search(sif.embedSync([q])[0], 10),
  }));
}

describe.each(await implementations<Mod>(import.meta.url))('%s', (name, impl) => {
  it('indexes every chunk in document order: label i is the i-th chunk', async () => {
    const r = await impl.runPipeline(docs, options());
    expect(r.chunks.map((c) => c.id)).toEqual(expected.map((c) => c.id));
    expect(r.bm25.size).toBe(expected.length);
    expect(r.vectors.size).toBe(expected.length);
    expect(r.stats.batches).toBe(Math.ceil(expected.length / 16));
  });

  it('builds the same indexes as the reference loop (same vectors, same search results)', async () => {
    const r = await impl.runPipeline(docs, options());
    // reference: the obvious sequential loop over the same stages
    const ref = await referenceRun();
    for (let label = 0; label < expected.length; label += 37) expect(r.vectors.vector(label)).toEqual(ref.vectors.vector(label));
    expect(searchBoth(r)).toEqual(searchBoth(ref));
  });

  it('gives the same result for any batch size', async () => {
    const a = await impl.runPipeline(docs.slice(0, 6), options({ batchSize: 1 }));
    const b = await impl.runPipeline(docs.slice(0, 6), options({ batchSize: 1000 }));
    expect(a.chunks).toEqual(b.chunks);
    expect(searchBoth(a)).toEqual(searchBoth(b));
  });

  it('handles an empty input', async () => {
    const r = await impl.runPipeline([], options());
    expect(r.chunks).toEqual([]);
    expect(r.bm25.size).toBe(0);
  });

  // The cost the lesson is about, counted from outside with the probe's own source and sink (probe.ts): how many
  // chunks the pipeline holds at once, and how many batches it runs without letting the event loop turn. before.ts
  // has neither bound by design (its chunker cuts the whole corpus in one tick), so it is exempt here.
  describe.skipIf(name === 'before')('the cost of running the pipeline', () => {
    it('keeps a bounded number of chunks in flight when the sink is slow', async () => {
      const batchSize = 8;
      const highWaterMark = 16;
      const maxPerDoc = Math.max(...docs.map((d) => chunkDocument(d, CHUNK).length));
      // the chunker's buffer, the document being chunked and the next one taken from the source, a partial batch,
      // and a batch in each hop and in the sink: whatever the corpus size
      const bound = highWaterMark + 2 * maxPerDoc + 4 * batchSize;
      expect(expected.length).toBeGreaterThan(3 * bound); // the bound means something
      const r = await probeRun(impl.runPipeline, docs, options({ batchSize, highWaterMark, sink: () => sleep(2) }));
      expect(
        r.maxInFlight,
        `${r.maxInFlight} chunks in flight, bound ${bound} (the corpus has ${r.total}): documents were taken from ` +
          `the source while the stages after it had no room, so the work piled up in front of the slow sink`,
      ).toBeLessThanOrEqual(bound);
      expect(r.batches).toBe(Math.ceil(expected.length / batchSize));
    });

    it('lets the event loop turn between batches', async () => {
      const r = await probeRun(impl.runPipeline, docs, options());
      const bound = 2;
      expect(
        r.longestSlice,
        `${r.longestSlice} of ${r.batches} batches reached the sink without an event-loop turn, bound ${bound}: ` +
          `timers, requests and health checks wait for that whole stretch`,
      ).toBeLessThanOrEqual(bound);
    });
  });

  it('rejects when the sink fails, with the sink’s error', async () => {
    let calls = 0;
    const sink = async () => {
      if (++calls === 3) throw new Error('sink: disk full');
    };
    await expect(impl.runPipeline(docs, options({ sink }))).rejects.toThrow('sink: disk full');
  });

  it('rejects when the embedder fails', async () => {
    const embedder = { dim: sif.dim, embedSync: () => { throw new Error('embedder: model unavailable'); } };
    await expect(impl.runPipeline(docs, options({ embedder }))).rejects.toThrow('embedder: model unavailable');
  });

  it('rejects a malformed document with a RagError naming it', async () => {
    const bad = [docs[0], { id: 'broken', text: 42 } as unknown as Doc, docs[1]];
    const err = await impl.runPipeline(bad, options()).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isRagError(err, 'INVALID_INPUT')).toBe(true);
    expect((err as Error).message).toContain('broken');
  });
});

async function referenceRun(): Promise<PipelineResult> {
  const { newOutput, embedStage, indexStage } = await import('./stages.ts');
  const opts = options();
  const out = newOutput(opts);
  let batches = 0;
  for (let i = 0; i < expected.length; i += 16) {
    indexStage(embedStage(expected.slice(i, i + 16), i, opts), out, opts);
    batches++;
  }
  return { ...out, stats: { batches, maxBuffered: expected.length } };
}
