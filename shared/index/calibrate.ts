/**
 * Picks an HNSW search beam (efSearch) for a built index from measured recall, instead of one constant for every size.
 *
 * A graph's recall at a fixed beam falls as it grows: the engine's int8 graph over the generated corpus finds 95.4% of
 * the exact top 10 at 100k chunks with efSearch 160 and 86.4% at 1M (shared/index/README.md, "At 1M chunks"). So
 * `npm run index` measures it: for sample query vectors, the exact top k (float32, every vector) against the graph's
 * top k at each beam of a ladder, and keeps the smallest beam whose recall reaches the target. The beam is saved with
 * the index (vectors.bin's header) and a serving process uses it for dense queries; hybrid queries use their own
 * narrow beam (`hybridEf`) and are not affected.
 */
import { RagError } from '../errors.ts';
import type { VectorIndex } from '../types.ts';

/** Beams tried, smallest first. */
export const EF_LADDER: readonly number[] = [160, 200, 256, 320, 400, 512, 640, 800, 1024, 1280, 1600, 2048];

export interface EfCalibration {
  /** The beam chosen: the smallest in the ladder that reached the target, or the largest tried. */
  ef: number;
  /** Recall@k at that beam. */
  recall: number;
  /** True when the chosen beam reached the target. */
  reached: boolean;
  target: number;
  k: number;
  queries: number;
  /** Every beam measured, in order. */
  tried: { ef: number; recall: number }[];
}

export interface CalibrateOptions {
  /** Recall@k wanted. Default 0.95. */
  target?: number;
  /** Default 10. */
  k?: number;
  /** Beams to try, ascending. Default EF_LADDER. */
  ladder?: readonly number[];
  log?: (msg: string) => void;
}

/** Recall@k of `index` at beam `ef` (undefined: the index's own), against `truths` (the exact top k of each query). */
export function recallAtEf(index: VectorIndex, queries: readonly Float32Array[], truths: readonly (readonly number[])[], k: number, ef?: number): number {
  let found = 0;
  let total = 0;
  queries.forEach((q, i) => {
    const truth = truths[i];
    if (truth.length === 0) return;
    const got = new Set(index.search(q, k, undefined, ef).map((h) => h.label));
    for (const label of truth) if (got.has(label)) found++;
    total += truth.length;
  });
  return total === 0 ? 1 : found / total;
}

/**
 * The smallest beam of the ladder at which `index` finds `target` of `exact`'s top k for `queries`. `exact` holds the
 * same vectors unquantised (a FlatIndex), so the recall is against exact float32 search.
 */
export function calibrateEfSearch(index: VectorIndex, exact: VectorIndex, queries: readonly Float32Array[], opts: CalibrateOptions = {}): EfCalibration {
  const target = opts.target ?? 0.95;
  const k = opts.k ?? 10;
  const ladder = opts.ladder ?? EF_LADDER;
  const log = opts.log ?? (() => {});
  if (!(target > 0 && target <= 1)) throw new RagError('INVALID_INPUT', `calibrateEfSearch: target must be in (0, 1], got ${target}`);
  if (!Number.isInteger(k) || k <= 0) throw new RagError('INVALID_INPUT', `calibrateEfSearch: k must be a positive integer, got ${k}`);
  if (ladder.length === 0 || ladder.some((ef, i) => !Number.isInteger(ef) || ef <= 0 || (i > 0 && ef <= ladder[i - 1]))) {
    throw new RagError('INVALID_INPUT', `calibrateEfSearch: the ladder must be ascending positive integers, got [${ladder.join(', ')}]`);
  }
  if (queries.length === 0) throw new RagError('INVALID_INPUT', 'calibrateEfSearch: no sample queries');
  const truths = queries.map((q) => exact.search(q, k).map((h) => h.label));
  const tried: { ef: number; recall: number }[] = [];
  for (const ef of ladder) {
    const recall = recallAtEf(index, queries, truths, k, ef);
    tried.push({ ef, recall });
    log(`  efSearch ${ef}: recall@${k} ${recall.toFixed(4)}`);
    if (recall >= target) return { ef, recall, reached: true, target, k, queries: queries.length, tried };
  }
  const last = tried[tried.length - 1];
  return { ef: last.ef, recall: last.recall, reached: false, target, k, queries: queries.length, tried };
}
