/**
 * Figures with a spread: `measured()` turns the observations behind a figure (repeated trials, or the raw latencies a
 * p99 is taken from) into a `Metric` whose `error` the report can show and test against noise.
 *
 *     measured('/healthz p99 while busy', 'ms', probeLatencies, { variant: 'after', stat: 'p99' })
 *     measured('req/s', 'req/s', [trial1, trial2, trial3], { variant: 'after' })          // mean ± s.e.m.
 */
import { mulberry32 } from '../util/random.ts';
import { percentile } from '../util/stats.ts';
import type { Metric, Stat } from './lesson.ts';

/** Samples beyond this many are summarised, not stored in results.json. */
export const MAX_STORED_SAMPLES = 2_000;
const BOOTSTRAP_ROUNDS = 400;

/** The statistic of a sorted array. */
function statOf(sorted: Float64Array, stat: Stat): number {
  const n = sorted.length;
  switch (stat) {
    case 'mean': {
      let s = 0;
      for (let i = 0; i < n; i++) s += sorted[i];
      return s / n;
    }
    case 'median':
      return percentile(sorted, 50);
    case 'p90':
      return percentile(sorted, 90);
    case 'p99':
      return percentile(sorted, 99);
    case 'max':
      return sorted[n - 1];
    case 'min':
      return sorted[0];
  }
}

/**
 * The value of `stat` over `samples` and its standard error: s.e.m. for the mean; for the other statistics the
 * standard deviation of the statistic over seeded bootstrap resamples (the same samples give the same error on every
 * machine). One sample has no spread: error 0 is never claimed, it is undefined.
 */
export function statWithError(samples: ArrayLike<number>, stat: Stat = 'mean'): { value: number; error?: number } {
  const n = samples.length;
  if (n === 0) throw new RangeError('statWithError: no samples');
  const sorted = Float64Array.from(samples).sort();
  const value = statOf(sorted, stat);
  if (n < 2) return { value };
  if (stat === 'mean') {
    let ss = 0;
    for (let i = 0; i < n; i++) ss += (sorted[i] - value) ** 2;
    return { value, error: Math.sqrt(ss / (n - 1)) / Math.sqrt(n) };
  }
  const rand = mulberry32(0x5eed);
  const resample = new Float64Array(n);
  let sum = 0;
  let sumSq = 0;
  for (let b = 0; b < BOOTSTRAP_ROUNDS; b++) {
    for (let i = 0; i < n; i++) resample[i] = sorted[Math.floor(rand() * n)];
    resample.sort();
    const v = statOf(resample, stat);
    sum += v;
    sumSq += v * v;
  }
  const m = sum / BOOTSTRAP_ROUNDS;
  return { value, error: Math.sqrt(Math.max(0, sumSq / BOOTSTRAP_ROUNDS - m * m)) };
}

/** A metric from the observations behind it: value, standard error, count, and the samples when few enough. */
export function measured(
  name: string,
  unit: string,
  samples: ArrayLike<number>,
  opts: { variant?: string; stat?: Stat; note?: string } = {},
): Metric {
  const stat = opts.stat ?? 'mean';
  const { value, error } = statWithError(samples, stat);
  return {
    name,
    value,
    unit,
    ...(opts.variant !== undefined ? { variant: opts.variant } : {}),
    ...(opts.note !== undefined ? { note: opts.note } : {}),
    stat,
    ...(error !== undefined ? { error } : {}),
    n: samples.length,
    ...(samples.length <= MAX_STORED_SAMPLES ? { samples: Array.from(samples) } : {}),
  };
}
