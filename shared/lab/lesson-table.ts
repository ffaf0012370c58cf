/**
 * A lesson's tables, for the terminal and the reports: its headline first (the figure the lesson is about, each
 * variant against its own baseline), then the time per call in the style of hyperfine's markdown export and undici's
 * benchmark output: slowest first, mean ± σ, a tolerance column, and the speed relative to the baseline measured in
 * the same run, marked ≈ where noise cannot tell it from 1.
 */
import { againstOf, describeChange, indistinguishable, type HeadlineResult } from './headline.ts';
import type { Metric } from './lesson.ts';
import type { LessonResult, VariantResult } from './results.ts';
import { describeSpeedup, type Ratio } from '../util/stats.ts';
import { formatBytes, formatMeanSd, formatMs, formatOps, formatWithError, renderTextTable } from '../util/table.ts';

/** A ratio within two standard errors of 1 (on the log scale): the measurement cannot tell it from no change. */
export function withinNoise(r: Ratio): boolean {
  return indistinguishable(r.value, r.error);
}

/** The Relative ± cell: speed-up over the baseline, "1.00" for the baseline itself, "≈" where noise hides it. */
export function formatRatio(r: Ratio | undefined, isBaseline: boolean): string {
  if (isBaseline) return '1.00';
  if (!r) return '–';
  const digits = r.value >= 10 ? 1 : 2;
  return `${r.value.toFixed(digits)}× ± ${r.error.toFixed(digits)}${withinNoise(r) ? ' ≈' : ''}`;
}

/** "after is 12.4× ± 0.6 faster than before"; "after is as fast as before within noise (1.02× ± 0.03)". */
export function summaryLine(variant: string, r: Ratio, baseline: string): string {
  const d = describeSpeedup(r);
  const digits = d.factor >= 10 ? 1 : 2;
  if (withinNoise(r)) return `${variant} is as fast as ${baseline} within noise (${r.value.toFixed(2)}× ± ${r.error.toFixed(2)})`;
  return `${variant} is ${d.factor.toFixed(digits)}× ± ${d.error.toFixed(digits)} ${d.direction} than ${baseline}`;
}

/** "/healthz p99 while busy (ms, lower is better)". */
export function headlineTitle(h: Pick<HeadlineResult, 'name' | 'unit' | 'better'>): string {
  return `${h.name} (${h.unit ? `${h.unit}, ` : ''}${h.better} is better)`;
}

export const HEADLINE_HEADER = ['Variant', 'Value ± s.e.', 'Against', 'Change'];

/** One row per variant with a headline value: the baseline first, then in the order the lesson declared them. */
export function headlineRows(h: HeadlineResult, baseline: string): string[][] {
  const rows = [...h.rows].sort((a, b) => Number(b.variant === baseline) - Number(a.variant === baseline));
  return rows.map((r) => [
    r.against === undefined ? `${r.variant} (baseline)` : r.variant,
    formatWithError(r.value, r.error, h.unit),
    r.against ?? '',
    r.against ? describeChange(h.better, r) : '',
  ]);
}

/** "[after] build time: 7.13 ms (note)". */
export function metricLine(m: Metric): string {
  return `${m.variant ? `[${m.variant}] ` : ''}${m.name}: ${formatWithError(m.value, m.error, m.unit)}${m.note ? ` (${m.note})` : ''}`;
}

/** Variants slowest first (undici style), failed ones last. */
export function orderVariants(variants: VariantResult[]): VariantResult[] {
  return [...variants].sort((a, b) => {
    if (a.status !== b.status) return a.status === 'failed' ? 1 : -1;
    return (b.stats?.mean ?? 0) - (a.stats?.mean ?? 0);
  });
}

export const TABLE_HEADER = ['Variant', 'Mean ± σ', 'p99', 'ops/s', '± rme', 'Samples', 'Relative ±'];

/** Row cells for one variant (failed variants carry their message in the second cell). */
export function variantCells(v: VariantResult, baseline: string, pairs?: Record<string, string>): string[] {
  const isBase = againstOf({ baseline, ...(pairs ? { pairs } : {}) }, v.name) === undefined;
  const name = isBase ? `${v.name} (baseline)` : v.name;
  if (v.status === 'failed' || !v.stats) return [name, `FAILED: ${v.error ?? 'unknown error'}`, '', '', '', '', ''];
  const s = v.stats;
  return [
    name,
    formatMeanSd(s.mean, s.sd),
    formatMs(s.p99),
    formatOps(s.opsPerSec),
    `±${s.rme.toFixed(2)}%`,
    String(s.samples),
    formatRatio(v.ratio, isBase),
  ];
}

/** Summary lines: every successful non-baseline variant against the baseline. */
export function summaryLines(lesson: LessonResult): string[] {
  const spec = { baseline: lesson.baseline, ...(lesson.pairs ? { pairs: lesson.pairs } : {}) };
  return lesson.variants.flatMap((v) => {
    const against = againstOf(spec, v.name);
    return against !== undefined && v.status === 'ok' && v.ratio ? [summaryLine(v.name, v.ratio, against)] : [];
  });
}

/** The whole terminal block for one lesson. */
export function renderLessonText(lesson: LessonResult): string {
  const head = `${lesson.id} — ${lesson.title}  [${lesson.mode}]`;
  if (lesson.status === 'skipped') return `${head}\n  skipped: ${lesson.reason ?? ''}`;
  const out = [head];
  if (lesson.workload) out.push(`  workload: ${lesson.workload}`);
  const h = lesson.headline;
  if (h && h.metric === undefined && !lesson.pairs) out.push(`  headline: ${headlineTitle(h)}: the mean time per call below`);
  else if (h && h.rows.length > 0) {
    out.push(`  headline: ${headlineTitle(h)}`);
    out.push(renderTextTable(HEADLINE_HEADER, headlineRows(h, lesson.baseline)));
    out.push('  time per call:');
  }
  out.push(
    `  ${lesson.options.rounds} interleaved rounds × ≥${lesson.options.time} ms per variant; ± rme = 95% CI of the mean; Relative = speed-up over ${lesson.baseline} ± 1 s.e.`,
  );
  if (lesson.variants.length > 0) {
    out.push(renderTextTable(TABLE_HEADER, orderVariants(lesson.variants).map((v) => variantCells(v, lesson.baseline, lesson.pairs))));
  }
  for (const l of summaryLines(lesson)) out.push(`  ${l}`);
  const mem = lesson.variants.filter((v) => v.memory);
  if (mem.length > 0) {
    out.push(
      renderTextTable(
        ['Variant', 'Heap Δ/round', 'RSS Δ/round', 'GC count', 'GC pause'],
        mem.map((v) => [
          v.name,
          formatBytes(v.memory!.heapDelta),
          formatBytes(v.memory!.rssDelta),
          String(v.memory!.gcCount),
          formatMs(v.memory!.gcPauseMs),
        ]),
      ),
    );
  }
  for (const m of lesson.metrics) out.push(`  ${metricLine(m)}`);
  for (const c of lesson.curves) out.push(`  curve "${c.title}": ${c.points.length} points (drawn in the report)`);
  if (lesson.status === 'failed') out.push(`  FAILED: ${lesson.reason ?? ''}`);
  return out.join('\n');
}
