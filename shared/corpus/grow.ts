import { performance } from 'node:perf_hooks';
import type { Engine } from '../engine.ts';
import type { Doc } from '../types.ts';
import { docsForChunks, generateDocs, trainTextModel } from './generate.ts';

export interface GrowOptions {
  /** Generator seed. Default 42. */
  seed?: number;
  /** Documents per ingest batch. Default 2,000. */
  batch?: number;
  log?: (msg: string) => void;
}

/**
 * Grows an engine to about `targetChunks` chunks with documents generated from a bigram model of `baseDocs`
 * (shared/corpus/generate.ts): deterministic for a seed, streamed in batches so memory stays flat.
 * Returns the chunks added and the time spent ingesting them (generation excluded).
 */
export async function growEngine(
  engine: Engine,
  baseDocs: readonly Doc[],
  targetChunks: number,
  opts: GrowOptions = {},
): Promise<{ documents: number; chunks: number; ingestMs: number }> {
  const log = opts.log ?? (() => {});
  const start = engine.stats().chunks;
  if (targetChunks <= start) return { documents: 0, chunks: 0, ingestMs: 0 };
  const model = trainTextModel(baseDocs);
  const seed = opts.seed ?? 42;
  const batch = opts.batch ?? 2000;
  let ingestMs = 0;
  let documents = 0;
  let pending: Doc[] = [];
  const flush = async () => {
    const r = await engine.ingest(pending);
    ingestMs += r.ms;
    documents += r.documents;
    pending = [];
    log(`  ${engine.stats().chunks} chunks (${(engine.stats().chunks - start) / (ingestMs / 1000) | 0} chunks/s)`);
  };
  // docsForChunks is an estimate: top up with further seeded rounds (fresh ids) until the target is reached.
  for (let round = 0; engine.stats().chunks < targetChunks; round++) {
    const want = docsForChunks(targetChunks - engine.stats().chunks, { model, seed: seed + round });
    log(`generating ~${want} documents (seed ${seed + round}) to reach ${targetChunks} chunks`);
    for (const doc of generateDocs({ model, seed: seed + round, docs: want, firstId: documents + 1 })) {
      pending.push(doc);
      if (pending.length === batch) await flush();
    }
    if (pending.length > 0) await flush();
  }
  return { documents, chunks: engine.stats().chunks - start, ingestMs };
}
