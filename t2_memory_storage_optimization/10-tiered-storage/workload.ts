/**
 * The workload of 10-tiered-storage: which chunk each read asks for. Retrieval traffic is skewed: a few chunks answer
 * many queries, most are rarely retrieved. A Zipf law models it: the r-th most popular chunk (r = 1, 2, …) is read
 * with probability ∝ 1 / r^s. Which chunks are popular is a seeded random permutation, so the popular ones are spread
 * over the whole corpus (and over the cold file's blocks) rather than sitting side by side.
 */
import { mulberry32 } from '../../shared/util/random.ts';

/** Draws chunk ids 0 .. n − 1 with Zipf(s) popularity, deterministically from `seed`. */
export function zipfSampler(n: number, s: number, seed: number): () => number {
  if (!Number.isInteger(n) || n <= 0) throw new RangeError(`zipfSampler: n must be a positive integer, got ${n}`);
  const cumulative = new Float64Array(n);
  let total = 0;
  for (let r = 0; r < n; r++) cumulative[r] = total += 1 / (r + 1) ** s;
  const rand = mulberry32(seed);
  const idOf = shuffled(n, rand);
  return () => {
    const x = rand() * total;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cumulative[mid] > x) hi = mid;
      else lo = mid + 1;
    }
    return idOf[lo];
  };
}

/** Popularity rank → chunk id: a Fisher–Yates shuffle of 0 .. n − 1 (the sampler's first n − 1 draws). */
function shuffled(n: number, rand: () => number): Int32Array {
  const idOf = new Int32Array(n);
  for (let i = 0; i < n; i++) idOf[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    const t = idOf[i];
    idOf[i] = idOf[j];
    idOf[j] = t;
  }
  return idOf;
}

/**
 * The share of reads a least-recently-used memory tier of `budget` bytes answers in the steady state, for the reads of
 * `zipfSampler(costs.length, s, seed)` where chunk i costs `costs[i]` bytes: Che's approximation (Che, Tung and Wang,
 * 2002; with sizes: Fricker, Robert and Roberts, 2012). An LRU holds a chunk read with probability p for about T
 * seconds' worth of reads after its last read, so it is in memory with probability 1 − e^(−p·T), where the
 * "characteristic time" T is the one at which the expected bytes held fill the budget: Σ cost_i (1 − e^(−p_i·T)) =
 * budget. The hit rate is then Σ p_i (1 − e^(−p_i·T)). Computed from the workload alone, it is the yardstick for any
 * memory tier under this load (for an LRU it is accurate to about a percentage point here).
 */
export function lruHitRate(costs: ArrayLike<number>, budget: number, s: number, seed: number): number {
  const n = costs.length;
  const idOf = shuffled(n, mulberry32(seed));
  const p = new Float64Array(n);
  const c = new Float64Array(n);
  let total = 0;
  for (let r = 0; r < n; r++) total += p[r] = 1 / (r + 1) ** s;
  for (let r = 0; r < n; r++) {
    p[r] /= total;
    c[r] = costs[idOf[r]];
  }
  const held = (t: number) => {
    let bytes = 0;
    for (let r = 0; r < n; r++) bytes += c[r] * -Math.expm1(-p[r] * t);
    return bytes;
  };
  let all = 0;
  for (let r = 0; r < n; r++) all += c[r];
  if (budget >= all) return 1;
  let lo = 0;
  let hi = 1;
  while (held(hi) < budget) hi *= 2;
  for (let k = 0; k < 60; k++) {
    const mid = (lo + hi) / 2;
    if (held(mid) < budget) lo = mid;
    else hi = mid;
  }
  let hits = 0;
  for (let r = 0; r < n; r++) hits += p[r] * -Math.expm1(-p[r] * lo);
  return hits;
}

/** `count` ids from a fresh sampler. */
export function zipfStream(n: number, count: number, s: number, seed: number): Int32Array {
  const next = zipfSampler(n, s, seed);
  const out = new Int32Array(count);
  for (let i = 0; i < count; i++) out[i] = next();
  return out;
}
