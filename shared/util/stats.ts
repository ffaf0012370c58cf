/**
 * Statistics the lab reports: summaries of latency samples, a speed-up ratio with its propagated uncertainty, and the
 * noise-aware comparison used to flag regressions between two runs. Pure functions, no I/O.
 */

/** Summary of one variant's pooled latency samples (milliseconds). */
export interface Summary {
  /** Number of samples (one sample = one call of the variant). */
  samples: number;
  mean: number;
  /** Sample standard deviation: how much single calls vary ("Mean ± σ"). */
  sd: number;
  /** Standard error of the mean, sd / sqrt(n): how uncertain the mean is. */
  sem: number;
  /** Relative margin of error in percent: half-width of the 95% confidence interval of the mean / mean × 100. */
  rme: number;
  min: number;
  p50: number;
  p99: number;
  max: number;
  /** Calls per second implied by the mean latency: 1000 / mean. */
  opsPerSec: number;
}

/** A value with a one-standard-error uncertainty. */
export interface Ratio {
  value: number;
  /** One standard error, propagated from the two means. */
  error: number;
}

/** Two-sided 95% critical values of Student's t for df = 1..30. */
const T95 = [
  12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131, 2.12, 2.11,
  2.101, 2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042,
];

/** Two-sided 95% critical value of Student's t (table up to df 30, then a close approximation tending to 1.96). */
export function tCritical95(df: number): number {
  if (df < 1) return T95[0];
  if (df <= 30) return T95[Math.floor(df) - 1];
  return 1.96 + 2.4 / df;
}

/** Linear-interpolated percentile (0..100) of an ascending-sorted array. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  const n = sorted.length;
  if (n === 0) return NaN;
  if (n === 1) return sorted[0];
  const pos = (p / 100) * (n - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, n - 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

/**
 * Nearest-rank percentile (0..100) of an ascending-sorted array: always one of the samples (the smallest value with
 * at least p% of the samples at or below it). NaN for an empty array.
 */
export function percentileNearestRank(sorted: ArrayLike<number>, p: number): number {
  const n = sorted.length;
  if (n === 0) return NaN;
  return sorted[Math.min(n - 1, Math.max(0, Math.ceil((p / 100) * n) - 1))];
}

/** Summarise latency samples in milliseconds. Throws on an empty input. */
export function summarize(samples: ArrayLike<number>): Summary {
  const n = samples.length;
  if (n === 0) throw new RangeError('summarize: no samples');
  const sorted = Float64Array.from(samples).sort();
  let sum = 0;
  for (let i = 0; i < n; i++) sum += sorted[i];
  const mean = sum / n;
  let ss = 0;
  for (let i = 0; i < n; i++) ss += (sorted[i] - mean) ** 2;
  const sd = n > 1 ? Math.sqrt(ss / (n - 1)) : 0;
  const sem = sd / Math.sqrt(n);
  const rme = mean > 0 ? (100 * sem * tCritical95(n - 1)) / mean : 0;
  return {
    samples: n,
    mean,
    sd,
    sem,
    rme,
    min: sorted[0],
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    max: sorted[n - 1],
    opsPerSec: mean > 0 ? 1000 / mean : Infinity,
  };
}

/**
 * Speed-up of `variant` over `baseline`: baseline.mean / variant.mean (> 1 means the variant is faster).
 * Uncertainty: the relative standard errors of the two means add in quadrature,
 * error = ratio × sqrt((semB/meanB)² + (semV/meanV)²).
 */
export function speedup(baseline: Pick<Summary, 'mean' | 'sem'>, variant: Pick<Summary, 'mean' | 'sem'>): Ratio {
  const value = baseline.mean / variant.mean;
  const rel = Math.hypot(baseline.sem / baseline.mean, variant.sem / variant.mean);
  return { value, error: value * rel };
}

/** Phrase a speed-up the way a reader says it: "12.4× ± 0.6 faster" or "1.3× ± 0.1 slower". */
export function describeSpeedup(r: Ratio): { factor: number; error: number; direction: 'faster' | 'slower' } {
  if (r.value >= 1) return { factor: r.value, error: r.error, direction: 'faster' };
  // Slower: report the inverse factor; its relative error is the same.
  const factor = 1 / r.value;
  return { factor, error: factor * (r.error / r.value), direction: 'slower' };
}

export type Verdict = 'regression' | 'improvement' | 'unchanged';

export interface Comparison {
  /** (current − previous) / previous mean, as a fraction (0.12 = 12% slower). */
  change: number;
  /** Difference of means in units of the combined standard error. */
  z: number;
  verdict: Verdict;
}

/** Thresholds for flagging a change between runs. Defaults: 2 standard errors and 5%. */
export interface CompareThresholds {
  z?: number;
  minChange?: number;
}

/**
 * Compare one figure between a previous and a current run (by default a mean latency, where lower is better). A
 * change is flagged only when it exceeds both the measured noise (|Δmean| > z × sqrt(semPrev² + semCur²)) and a
 * minimum relative size (|Δ| / prev > minChange); it is a regression when it goes the wrong way for `better`.
 */
export function compareMeans(
  previous: Pick<Summary, 'mean' | 'sem'>,
  current: Pick<Summary, 'mean' | 'sem'>,
  thresholds: CompareThresholds = {},
  better: 'lower' | 'higher' = 'lower',
): Comparison {
  const zMin = thresholds.z ?? 2;
  const minChange = thresholds.minChange ?? 0.05;
  const diff = current.mean - previous.mean;
  const se = Math.hypot(previous.sem, current.sem);
  const z = se > 0 ? diff / se : diff === 0 ? 0 : Math.sign(diff) * Infinity;
  const change = diff / previous.mean;
  let verdict: Verdict = 'unchanged';
  if (Math.abs(z) > zMin && Math.abs(change) > minChange) verdict = (better === 'lower' ? diff > 0 : diff < 0) ? 'regression' : 'improvement';
  return { change, z, verdict };
}
