/**
 * Compare a run against an earlier one, lesson by lesson on each lesson's headline, flagging changes beyond the
 * measured noise in the direction that is worse for that metric.
 */
import type { LessonResult, RunResults } from '../results.ts';
import { compareMeans, type CompareThresholds, type Verdict } from '../../util/stats.ts';

export interface CompareRow {
  lesson: string;
  variant: string;
  /** The headline's name ('time per call' for lessons measured before headlines existed). */
  metric: string;
  unit: string;
  better: 'lower' | 'higher';
  previous: number;
  current: number;
  /** (current − previous) / previous: +0.12 = 12% higher. */
  change: number;
  /** Difference in combined standard errors, signed like `change`. */
  z: number;
  verdict: Verdict;
}

export interface RunComparison {
  previousRunId: string;
  rows: CompareRow[];
  /** Lessons or variants present in only one of the runs. */
  unmatched: string[];
  /** Differences in the environment that make absolute values incomparable (CPU, Node). */
  envWarnings: string[];
}

interface Figure {
  value: number;
  error?: number;
}

/** A lesson's per-variant figures on its headline (or the mean time per call for results without one). */
function figures(l: LessonResult): { metric: string; unit: string; better: 'lower' | 'higher'; values: Map<string, Figure> } {
  if (l.headline) {
    return {
      metric: l.headline.name,
      unit: l.headline.unit,
      better: l.headline.better,
      values: new Map(l.headline.rows.map((r) => [r.variant, { value: r.value, ...(r.error !== undefined ? { error: r.error } : {}) }])),
    };
  }
  return {
    metric: 'time per call',
    unit: 'ms',
    better: 'lower',
    values: new Map(l.variants.filter((v) => v.stats).map((v) => [v.name, { value: v.stats!.mean, error: v.stats!.sem }])),
  };
}

export function compareRuns(current: RunResults, previous: RunResults, thresholds?: CompareThresholds): RunComparison {
  const rows: CompareRow[] = [];
  const unmatched: string[] = [];
  for (const l of current.lessons) {
    const p = previous.lessons.find((x) => x.id === l.id);
    if (!p) {
      if (l.status !== 'skipped') unmatched.push(`${l.id} (new in this run)`);
      continue;
    }
    if (p.mode !== l.mode) {
      unmatched.push(`${l.id} (mode ${p.mode} then ${l.mode}: not compared)`);
      continue;
    }
    const now = figures(l);
    const then = figures(p);
    if (now.metric !== then.metric || now.unit !== then.unit) {
      unmatched.push(`${l.id} (headline "${then.metric}" then "${now.metric}": not compared)`);
      continue;
    }
    for (const [variant, cur] of now.values) {
      const prev = then.values.get(variant);
      if (!prev) {
        unmatched.push(`${l.id} · ${variant}`);
        continue;
      }
      rows.push({ lesson: l.id, variant, metric: now.metric, unit: now.unit, better: now.better, previous: prev.value, current: cur.value, ...compareMeans({ mean: prev.value, sem: prev.error ?? 0 }, { mean: cur.value, sem: cur.error ?? 0 }, thresholds, now.better) });
    }
    for (const variant of then.values.keys()) if (!now.values.has(variant)) unmatched.push(`${l.id} · ${variant}`);
  }
  const envWarnings: string[] = [];
  const a = previous.env;
  const b = current.env;
  if (a.cpu !== b.cpu || a.cores !== b.cores) envWarnings.push(`CPU differs: ${a.cpu} × ${a.cores} then ${b.cpu} × ${b.cores}`);
  if (a.node !== b.node) envWarnings.push(`Node differs: ${a.node} then ${b.node}`);
  return { previousRunId: previous.runId, rows, unmatched, envWarnings };
}

export function regressions(c: RunComparison): CompareRow[] {
  return c.rows.filter((r) => r.verdict === 'regression');
}
