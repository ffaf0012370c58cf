/** Compare a run against an earlier one, variant by variant, flagging changes beyond the measured noise. */
import type { RunResults } from '../results.ts';
import { compareMeans, type CompareThresholds, type Verdict } from '../../util/stats.ts';

export interface CompareRow {
  lesson: string;
  variant: string;
  previousMean: number;
  currentMean: number;
  /** (current − previous) / previous: +0.12 = 12% slower. */
  change: number;
  /** Difference of means in combined standard errors. */
  z: number;
  verdict: Verdict;
}

export interface RunComparison {
  previousRunId: string;
  rows: CompareRow[];
  /** Lessons or variants present in only one of the runs. */
  unmatched: string[];
  /** Differences in the environment that make absolute times incomparable (CPU, Node, mode). */
  envWarnings: string[];
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
    for (const v of l.variants) {
      const pv = p.variants.find((x) => x.name === v.name);
      if (!v.stats || !pv?.stats) {
        if (v.stats || pv?.stats) unmatched.push(`${l.id} · ${v.name}`);
        continue;
      }
      const c = compareMeans(pv.stats, v.stats, thresholds);
      rows.push({ lesson: l.id, variant: v.name, previousMean: pv.stats.mean, currentMean: v.stats.mean, ...c });
    }
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
