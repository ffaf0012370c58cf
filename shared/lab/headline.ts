/**
 * A lesson's headline: the figure it is about (declared as `headline` in its bench), per variant, with its spread,
 * and each variant's change against its own baseline, oriented so that > 1 is always better. Pure functions over
 * a lesson's results; the runner stores the outcome in results.json and every table and chart reads it from there.
 */
import type { Headline, Metric } from './lesson.ts';
import type { VariantResult } from './results.ts';
import type { Ratio } from '../util/stats.ts';

/** better / worse beyond twice the propagated standard error, or indistinguishable from no change. */
export type Verdict = 'better' | 'worse' | 'within noise';

export interface HeadlineRow {
  variant: string;
  value: number;
  /** One standard error of `value`; absent when the figure was measured once. */
  error?: number;
  /** Observations behind `value` (calls, probes, trials). */
  n?: number;
  /** The variant this one is compared with: its pair's baseline, or the lesson's. Absent for a baseline. */
  against?: string;
  /**
   * How many times better than `against`, > 1 better: against / value when lower is better, value / against when
   * higher is. Its error propagates both standard errors (absent when either has none).
   */
  change?: { value: number; error?: number };
  verdict?: Verdict;
}

export interface HeadlineResult extends Headline {
  rows: HeadlineRow[];
  /** The variants "at a glance" leads with (see LessonDefinition.featured), plus 'exercise' when it ran. */
  featured: string[];
}

/** The definition fields the headline needs. */
export interface HeadlineSpec {
  headline: Headline;
  baseline: string;
  pairs?: Record<string, string>;
  featured?: string[];
}

/** Where the time per call stands in when a lesson declares no headline metric. */
export const LATENCY: Headline = { name: 'time per call', unit: 'ms', better: 'lower' };

/**
 * The variant a variant is compared with: its pair's baseline, else the lesson's. A variant that is some pair's
 * baseline is a baseline itself (compared with nothing). 'exercise' compares like 'after' unless `pairs` names it.
 */
export function againstOf(spec: Pick<HeadlineSpec, 'baseline' | 'pairs'>, variant: string): string | undefined {
  const own = spec.pairs?.[variant] ?? (variant === 'exercise' ? spec.pairs?.after : undefined);
  if (own === undefined && spec.pairs && Object.values(spec.pairs).includes(variant)) return undefined;
  const against = own ?? spec.baseline;
  return against === variant ? undefined : against;
}

/** The featured variants among those that ran. */
export function featuredOf(spec: HeadlineSpec, names: string[]): string[] {
  let f = spec.featured ?? (spec.pairs ? Object.keys(spec.pairs) : []);
  if (f.length === 0) {
    const after = names.find((n) => n === 'after') ?? names.find((n) => n.startsWith('after'));
    f = after ? [after] : names.filter((n) => n !== spec.baseline && n !== 'exercise').slice(0, 1);
  }
  f = f.filter((n) => names.includes(n));
  return names.includes('exercise') && !f.includes('exercise') ? [...f, 'exercise'] : f;
}

/**
 * Whether a ratio cannot be told from 1: its logarithm is within two standard errors of 0. On the log scale (the
 * delta method: s.e. of ln r ≈ s.e. of r / r) a large factor with a wide error, 19.8× ± 12.8, still reads as a
 * change, while the test agrees with |r − 1| ≤ 2 s.e. for small changes.
 */
export function indistinguishable(ratio: number, error: number): boolean {
  if (!(ratio > 0)) return false;
  return Math.abs(Math.log(ratio)) <= (2 * error) / ratio;
}

/** Compare a value with its baseline on the headline, oriented so > 1 is better; verdict against 2 s.e. */
export function compareOnHeadline(
  better: Headline['better'],
  base: { value: number; error?: number },
  v: { value: number; error?: number },
): { change: { value: number; error?: number }; verdict: Verdict } {
  const ratio = better === 'lower' ? base.value / v.value : v.value / base.value;
  const known = base.error !== undefined && v.error !== undefined && base.value !== 0 && v.value !== 0;
  const error = known ? Math.abs(ratio) * Math.hypot(base.error! / base.value, v.error! / v.value) : undefined;
  let verdict: Verdict = ratio > 1 ? 'better' : ratio < 1 ? 'worse' : 'within noise';
  if (!Number.isFinite(ratio)) verdict = ratio > 0 ? 'better' : 'worse';
  else if (error !== undefined && indistinguishable(ratio, error)) verdict = 'within noise';
  return { change: error !== undefined ? { value: ratio, error } : { value: ratio }, verdict };
}

/**
 * Each variant's headline value (its mean time per call, or the metric named by `headline.metric` that extras
 * reported for it) and its change against its own baseline. Variants without a value are left out and named in
 * `missing`, so a lesson that forgot to measure one is told, not silently shown without it.
 */
export function computeHeadline(
  spec: HeadlineSpec,
  variants: VariantResult[],
  metrics: Metric[],
): { result: HeadlineResult; missing: string[] } {
  const h = spec.headline;
  const values = new Map<string, { value: number; error?: number; n?: number }>();
  const missing: string[] = [];
  for (const v of variants) {
    if (v.status !== 'ok') continue;
    if (h.metric === undefined) {
      if (v.stats) values.set(v.name, { value: v.stats.mean, error: v.stats.sem, n: v.stats.samples });
      continue;
    }
    const m = metrics.find((x) => x.name === h.metric && x.variant === v.name);
    if (!m || !Number.isFinite(m.value)) {
      missing.push(v.name);
      continue;
    }
    values.set(v.name, { value: m.value, ...(m.error !== undefined ? { error: m.error } : {}), ...(m.n !== undefined ? { n: m.n } : {}) });
  }
  const rows: HeadlineRow[] = [];
  for (const [variant, val] of values) {
    const row: HeadlineRow = { variant, ...val };
    const against = againstOf(spec, variant);
    const base = against !== undefined ? values.get(against) : undefined;
    if (against !== undefined && base) {
      row.against = against;
      Object.assign(row, compareOnHeadline(h.better, base, val));
    }
    rows.push(row);
  }
  const names = [...values.keys()];
  return { result: { ...h, rows, featured: featuredOf(spec, names) }, missing };
}

/** "35.8× ± 4.1 lower", "1.41× ± 0.05 higher", "1.30× higher (worse)", "≈ no change (within noise)". */
export function describeChange(better: Headline['better'], row: Pick<HeadlineRow, 'change' | 'verdict'>): string {
  const c = row.change;
  if (!c) return '–';
  if (row.verdict === 'within noise') return `no change beyond noise (${fmtFactor(c.value, c.error)})`;
  // a ratio of 0 or ∞ (a value of 0 on one side; results JSON stores ∞ as null): say where it went
  if (c.value === null || c.value === 0 || !Number.isFinite(c.value)) {
    const up = (better === 'lower') === (row.verdict === 'worse');
    return `${up ? 'up from 0' : 'down to 0'} (∞× ${up ? 'higher' : 'lower'})${row.verdict === 'worse' ? ' (worse)' : ''}`;
  }
  const improved = c.value >= 1;
  const factor = improved ? c.value : 1 / c.value;
  const err = c.error !== undefined ? (improved ? c.error : c.error / (c.value * c.value)) : undefined;
  const goesDown = better === 'lower' ? improved : !improved;
  return `${fmtFactor(factor, err)} ${goesDown ? 'lower' : 'higher'}${improved ? '' : ' (worse)'}`;
}

function fmtFactor(x: number, err?: number): string {
  if (!Number.isFinite(x)) return '∞×';
  const digits = x >= 10 ? 1 : 2;
  return `${x.toFixed(digits)}×${err !== undefined ? ` ± ${err.toFixed(digits)}` : ''}`;
}

/** Ratio in the shape the speed-up helpers use, for charts. */
export function asRatio(c: HeadlineRow['change']): Ratio | undefined {
  return c ? { value: c.value, error: c.error ?? 0 } : undefined;
}
