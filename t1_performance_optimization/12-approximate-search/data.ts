/**
 * The workload for 12-approximate-search, built the way ann-benchmarks builds glove-100-angular: real GloVe-100d word
 * vectors, normalised (cosine), split at random into data and held-out queries (disjoint), with the exact top-k of
 * every query as ground truth.
 *
 * Here the data are the `n` most frequent words but `queries` of them, chosen by a seeded shuffle of the first
 * n + queries ranks: the queries come from the same distribution as the data and are never in it.
 */
import { loadGlove } from '../../shared/embed/glove-cache.ts';
import { FlatIndex } from '../../shared/index/flat.ts';
import { mulberry32 } from '../../shared/util/random.ts';

export interface GloveSplit {
  dim: number;
  /** Data vectors, unit length; label i = position i. */
  data: Float32Array[];
  /** The word of each data vector. */
  words: string[];
  /** Held-out query vectors, unit length. */
  queries: Float32Array[];
  queryWords: string[];
}

function unit(v: Float32Array): Float32Array {
  let s = 0;
  for (let j = 0; j < v.length; j++) s += v[j] * v[j];
  const inv = s > 0 ? 1 / Math.sqrt(s) : 0;
  const out = new Float32Array(v.length);
  for (let j = 0; j < v.length; j++) out[j] = v[j] * inv;
  return out;
}

export async function loadSplit(n: number, queries: number, seed = 12): Promise<GloveSplit> {
  const g = await loadGlove();
  const total = n + queries;
  if (total > g.count) throw new RangeError(`loadSplit: n + queries = ${total} exceeds the ${g.count} GloVe words`);
  // Fisher–Yates over the first `total` ranks; the first `queries` positions are held out.
  const order = Int32Array.from({ length: total }, (_, i) => i);
  const rand = mulberry32(seed);
  for (let i = total - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    const t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  const held = order.subarray(0, queries);
  const kept = order.subarray(queries).slice().sort(); // data in rank order
  const row = (r: number) => unit(g.vectors.subarray(r * g.dim, (r + 1) * g.dim));
  return {
    dim: g.dim,
    data: Array.from(kept, row),
    words: Array.from(kept, (r) => g.words[r]),
    queries: Array.from(held, row),
    queryWords: Array.from(held, (r) => g.words[r]),
  };
}

/** Exact top-k labels of every query: one brute-force pass per query (FlatIndex: one contiguous Float32Array). */
export function groundTruth(data: Float32Array[], queries: Float32Array[], k: number): number[][] {
  const flat = new FlatIndex({ dim: data[0]?.length ?? 1, initialCapacity: Math.max(1, data.length) });
  flat.add(
    data.map((_, i) => i),
    data,
  );
  return queries.map((q) => flat.search(q, k).map((h) => h.label));
}

/** recall@k: the share of the true top-k found in the returned top-k, averaged over queries. */
export function recallAtK(got: number[][], truth: number[][], k: number): number {
  if (truth.length === 0) return 1;
  let found = 0;
  for (let i = 0; i < truth.length; i++) {
    const want = new Set(truth[i].slice(0, k));
    for (const l of got[i].slice(0, k)) if (want.has(l)) found++;
  }
  return found / (truth.length * k);
}
