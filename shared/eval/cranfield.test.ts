import { beforeAll, describe, expect, it } from 'vitest';
import { loadBeir } from '../corpus/beir.ts';
import { createEngine, type Engine } from '../engine.ts';
import type { Qrels, Query } from '../types.ts';
import { datasetsDir, findDataset } from '../util/paths.ts';
import { evaluate, type EvalResult } from './evaluate.ts';

const dir = findDataset('cranfield');
if (!dir) console.warn(`skipping Cranfield quality floors: no cranfield collection under ${datasetsDir()} (set LAB_DATASETS)`);

describe.skipIf(!dir)('retrieval quality on Cranfield (floors from issue: BM25 ≥ 0.37, dense ≥ 0.23, hybrid ≥ best)', () => {
  let engine: Engine;
  let queries: Query[];
  let qrels: Qrels;
  const results: Partial<Record<'bm25' | 'dense' | 'hybrid', EvalResult>> = {};

  beforeAll(async () => {
    const data = await loadBeir(dir!);
    queries = data.queries;
    qrels = data.qrels;
    engine = await createEngine({ llm: null });
    await engine.ingest(data.docs);
    for (const mode of ['bm25', 'dense', 'hybrid'] as const) results[mode] = await evaluate(engine, queries, qrels, { mode });
  }, 300_000);

  it('scores all 225 judged queries', () => {
    expect(results.bm25!.queries).toBe(225);
  });
  it('BM25 nDCG@10 ≥ 0.37', () => {
    expect(results.bm25!['ndcg@10']).toBeGreaterThanOrEqual(0.37);
  });
  it('dense nDCG@10 ≥ 0.23', () => {
    expect(results.dense!['ndcg@10']).toBeGreaterThanOrEqual(0.23);
  });
  it('default hybrid is at least as good as the best single mode', () => {
    const best = Math.max(results.bm25!['ndcg@10'], results.dense!['ndcg@10']);
    expect(results.hybrid!['ndcg@10']).toBeGreaterThanOrEqual(best);
  });
});
