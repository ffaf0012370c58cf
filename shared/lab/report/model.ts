/** Text shared by the HTML and Markdown reports, so the two say the same thing. */
import { formatEnvLines, type RunEnv } from '../env.ts';
import type { LessonResult, RunResults } from '../results.ts';
import { formatBytes, formatMs, sig3 } from '../../util/table.ts';
import { formatRatio, orderVariants, summaryLines, TABLE_HEADER, variantCells } from '../lesson-table.ts';
import type { RunComparison } from './compare.ts';

export function envRows(env: RunEnv, runId: string): Array<[string, string]> {
  return [
    ['Run', runId],
    ['Date', env.date],
    ['Command', env.command],
    ['Mode', env.mode],
    ['CPU', `${env.cpu} × ${env.cores} cores`],
    ['Memory', `${(env.memory / 1024 ** 3).toFixed(1)} GB`],
    ['Node', `${env.node} (V8 ${env.v8})`],
    ['OS', env.os],
    ['Commit', env.commit ? `${env.commit}${env.dirty ? ' (uncommitted changes)' : ''}` : `none${env.dirty ? ' (uncommitted changes)' : ''}`],
  ];
}

export { formatEnvLines };

/** The method paragraph, as a list of plain-text points. */
export function methodPoints(results: RunResults): string[] {
  const opts = results.lessons.find((l) => l.status !== 'skipped')?.options;
  return [
    'Each lesson builds its inputs once (`setup`); every variant then runs on those same inputs.',
    'Every variant is warmed up first (results discarded), then the variants are measured in interleaved rounds ' +
      '(round 1: A B C, round 2: B C A, …) so drift of the machine (thermal, other load, GC debt) spreads over all ' +
      `of them${opts ? `; this run used ${opts.rounds} rounds of at least ${opts.time} ms and ${opts.iterations} calls per variant` : ''}.`,
    'One sample is one call of the variant, timed with tinybench; samples from all rounds are pooled.',
    'Mean ± σ: the mean latency and the standard deviation of single calls (how much calls vary). p99: 99% of calls were faster.',
    '± rme: half-width of the 95% confidence interval of the mean, relative to the mean (how precisely the mean is known).',
    'Relative ±: speed-up over the baseline measured in the same run, baseline mean / variant mean (baseline = 1.00, ' +
      'above 1 is faster), ± one standard error propagated from both means: ratio × √((sem_b/mean_b)² + (sem_v/mean_v)²).',
    'Absolute times depend on the machine; compare ratios across machines, absolute times only on the same machine.',
  ];
}

export function lessonTableRows(l: LessonResult): string[][] {
  return orderVariants(l.variants).map((v) => variantCells(v, l.baseline));
}

export { TABLE_HEADER, summaryLines };

export const OVERVIEW_HEADER = ['Lesson', 'Baseline', 'Mean', 'Optimised', 'Mean', 'Speed-up ±'];

/**
 * One row per lesson: the baseline and the optimised variant (`after`, or a variant named `after (…)`, else the
 * fastest other variant) with their mean latency and the same-run speed-up, or why there is none.
 */
export function overviewRows(results: RunResults): string[][] {
  return results.lessons.map((l) => {
    if (l.status === 'skipped') return [l.id, '–', '–', '–', '–', `skipped: ${l.reason ?? ''}`];
    const base = l.variants.find((v) => v.name === l.baseline);
    const others = l.variants.filter((v) => v.name !== l.baseline);
    const fastest = others.filter((v) => v.stats).sort((a, b) => a.stats!.mean - b.stats!.mean)[0];
    const best = others.find((v) => v.name === 'after') ?? others.find((v) => v.name.startsWith('after')) ?? fastest;
    const mean = (v: typeof base) => (v?.stats ? formatMs(v.stats.mean) : v?.status === 'failed' ? 'FAILED' : '–');
    const ratio = best?.ratio ? `${formatRatio(best.ratio, false)}${best.ratio.value >= 1 ? ' faster' : ' (slower)'}` : '–';
    return [l.id, l.baseline, mean(base), best?.name ?? '–', mean(best), l.status === 'failed' ? `failed: ${l.reason ?? ''}` : ratio];
  });
}

export function memoryRows(l: LessonResult): string[][] {
  return l.variants
    .filter((v) => v.memory)
    .map((v) => [
      v.name,
      formatBytes(v.memory!.heapDelta),
      formatBytes(v.memory!.rssDelta),
      String(v.memory!.gcCount),
      formatMs(v.memory!.gcPauseMs),
    ]);
}
export const MEMORY_HEADER = ['Variant', 'Heap Δ / round', 'RSS Δ / round', 'GC count', 'GC pause total'];

export function metricRows(l: LessonResult): string[][] {
  return l.metrics.map((m) => [m.variant ?? '', m.name, `${sig3(m.value)} ${m.unit}`, m.note ?? '']);
}
export const METRIC_HEADER = ['Variant', 'Metric', 'Value', 'Note'];

export function compareRows(c: RunComparison): string[][] {
  return c.rows.map((r) => [
    r.lesson,
    r.variant,
    formatMs(r.previousMean),
    formatMs(r.currentMean),
    `${r.change >= 0 ? '+' : ''}${(r.change * 100).toFixed(1)}%`,
    Number.isFinite(r.z) ? r.z.toFixed(1) : String(r.z),
    r.verdict === 'regression' ? 'REGRESSION' : r.verdict === 'improvement' ? 'improved' : '–',
  ]);
}
export const COMPARE_HEADER = ['Lesson', 'Variant', 'Before (previous run)', 'Now', 'Change', 'z', 'Flag'];

export function compareExplanation(c: RunComparison): string {
  return (
    `Compared with run ${c.previousRunId}. A change is flagged when the difference of the means exceeds 2 combined ` +
    'standard errors (z > 2) and 5% of the previous mean; z is the difference divided by √(sem_prev² + sem_now²).'
  );
}
