import { performance } from 'node:perf_hooks';
import type { Engine, RetrievalMode } from '../engine.ts';
import type { Qrels, Query } from '../types.ts';
import { percentileNearestRank } from '../util/stats.ts';
import { mrrAt, ndcgAt, recallAt } from './metrics.ts';

export interface EvalResult {
  'ndcg@10': number;
  'recall@100': number;
  'mrr@10': number;
  /** Judged queries scored. */
  queries: number;
  /** Latency of the retrieval call (no answer), per query. */
  latency_ms: { p50: number; p99: number; mean: number };
  mode: RetrievalMode;
}

export interface EvalOptions {
  mode: RetrievalMode;
  /** Untimed queries run first so JIT compilation does not land in the latency figures. Default 20. */
  warmup?: number;
  /** Chunks retrieved per query before they are collapsed to documents. Default 200 (Recall@100 needs 100 docs). */
  depth?: number;
  onProgress?: (done: number, total: number) => void;
}

/**
 * Scores an engine on judged queries. Hits are chunks; judgements are on documents, so the ranked list is each
 * document at the rank of its best chunk. Queries without any relevant judgement are skipped (as BEIR does).
 */
export async function evaluate(engine: Engine, queries: Query[], qrels: Qrels, opts: EvalOptions): Promise<EvalResult> {
  const depth = opts.depth ?? 200;
  const judged = queries.filter((q) => [...(qrels.get(q.id)?.values() ?? [])].some((g) => g > 0));
  let ndcg = 0;
  let recall = 0;
  let mrr = 0;
  const latencies: number[] = [];
  for (const q of judged.slice(0, opts.warmup ?? 20)) await engine.query(q.text, { k: depth, mode: opts.mode, answer: false });
  for (let i = 0; i < judged.length; i++) {
    const q = judged[i];
    const t = performance.now();
    const { hits } = await engine.query(q.text, { k: depth, mode: opts.mode, answer: false });
    latencies.push(performance.now() - t);
    const ranked: string[] = [];
    const seen = new Set<string>();
    for (const h of hits) {
      if (!seen.has(h.docId)) {
        seen.add(h.docId);
        ranked.push(h.docId);
      }
    }
    const grades = qrels.get(q.id)!;
    ndcg += ndcgAt(10, ranked, grades);
    recall += recallAt(100, ranked, grades);
    mrr += mrrAt(10, ranked, grades);
    opts.onProgress?.(i + 1, judged.length);
  }
  const n = Math.max(judged.length, 1);
  latencies.sort((a, b) => a - b);
  return {
    'ndcg@10': ndcg / n,
    'recall@100': recall / n,
    'mrr@10': mrr / n,
    queries: judged.length,
    latency_ms: {
      p50: percentileNearestRank(latencies, 50),
      p99: percentileNearestRank(latencies, 99),
      mean: latencies.reduce((a, b) => a + b, 0) / n,
    },
    mode: opts.mode,
  };
}
