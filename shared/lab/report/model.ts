/** Text shared by the HTML and Markdown reports, so the two say the same thing. */
import path from 'node:path';
import type { CheckpointRecord } from '../checkpoint-log.ts';
import { formatEnvLines, type RunEnv } from '../env.ts';
import { describeChange, type HeadlineResult, type HeadlineRow } from '../headline.ts';
import type { LessonReference } from '../reference.ts';
import { commandsOf, type LessonResult, type RunResults } from '../results.ts';
import { formatBytes, formatMs, formatWithError } from '../../util/table.ts';
import { headlineTitle, metricLine, orderVariants, summaryLines, TABLE_HEADER, variantCells } from '../lesson-table.ts';
import type { RunComparison } from './compare.ts';
import type { ReleaseReport } from '../../deploy/release-report.ts';

/** What the report knows beyond the run: each lesson's README reference figures and checkpoint status, the capstone's release report. */
export interface ReportContext {
  /** Lesson id → its reference.json (the figures its README reports). */
  references: Record<string, LessonReference>;
  /** Lesson id → the learner's last `npm run checkpoint`. */
  checkpoints: Record<string, CheckpointRecord>;
  /** Lesson id → the lesson's README, relative to the report's folder. */
  readmes: Record<string, string>;
  /** The run folder's release.json (`npm run t4:soak`), when it holds one: the report's "Release (capstone soak)" section. */
  release?: ReleaseReport;
}

export const EMPTY_CONTEXT: ReportContext = { references: {}, checkpoints: {}, readmes: {} };

export function envRows(env: RunEnv, runId: string): Array<[string, string]> {
  const commands = commandsOf(env);
  const rows: Array<[string, string]> = [
    ['Run', runId],
    ['Date', env.date],
    ['Mode', env.mode],
    ['CPU', `${env.cpu} × ${env.cores} cores`],
    ['Memory', `${(env.memory / 1024 ** 3).toFixed(1)} GB`],
    ['Node', `${env.node} (V8 ${env.v8})`],
    ['OS', env.os],
  ];
  commands.forEach((c, i) => {
    const commit = c.commit ? `${c.commit.slice(0, 10)}${c.dirty ? ' (uncommitted changes)' : ''}` : 'no commit';
    const lessons = c.lessons.length ? ` · ${c.lessons.length === 1 ? c.lessons[0] : `${c.lessons.length} lessons`}` : '';
    rows.push([commands.length === 1 ? 'Command' : `Command ${i + 1}`, `${c.command} · ${c.date.replace('T', ' ').slice(0, 16)} · ${c.mode} · ${commit}${lessons}`]);
  });
  return rows;
}

export { formatEnvLines };

/** The method paragraph, as a list of plain-text points. */
export function methodPoints(results: RunResults): string[] {
  const opts = results.lessons.find((l) => l.status !== 'skipped')?.options;
  return [
    'Each lesson is judged by its **headline**: the figure it is about (`/healthz` p99 while busy, API p99, chunks in ' +
      'flight, time per query…), declared by the lesson. Every variant is compared with its own baseline on it, as ' +
      '"times better" (> 1 is better), ± one standard error propagated from both values.',
    'A change within two standard errors of 1 is marked "no change beyond noise" (≈ in the timing tables): the ' +
      'measurement cannot tell it from none. "worse" appears only where the lesson\'s own metric got worse beyond noise.',
    'Each lesson builds its inputs once (`setup`); every variant then runs on those same inputs.',
    'Every variant is warmed up first (results discarded), then the variants are measured in interleaved rounds ' +
      '(round 1: A B C, round 2: B C A, …) so drift of the machine (thermal, other load, GC debt) spreads over all ' +
      `of them${opts ? `; this run used ${opts.rounds} rounds of at least ${opts.time} ms and ${opts.iterations} calls per variant` : ''}.`,
    'Time per call: one sample is one call of the variant, timed with tinybench; samples from all rounds are pooled. ' +
      'Mean ± σ: the mean and the standard deviation of single calls. p99: 99% of calls were faster. ± rme: half-width ' +
      'of the 95% confidence interval of the mean, relative to the mean. Relative ±: baseline mean / variant mean.',
    'Headline figures measured outside the timed calls (probes, load tests, simulations) carry the spread of their ' +
      'observations: the standard error of a mean over repeated trials, or a seeded bootstrap for a p99 or a maximum.',
    'Absolute values depend on the machine; compare ratios across machines, absolute values only on the same machine. ' +
      'The README reference column is from the run named under each lesson, on the project\'s 2-core machine.',
  ];
}

export function lessonTableRows(l: LessonResult): string[][] {
  return orderVariants(l.variants).map((v) => variantCells(v, l.baseline, l.pairs));
}

export { TABLE_HEADER, summaryLines };

function rowOf(h: HeadlineResult, variant: string): HeadlineRow | undefined {
  return h.rows.find((r) => r.variant === variant);
}

function valueCell(h: HeadlineResult, r: HeadlineRow | undefined): string {
  return r ? formatWithError(r.value, r.error, h.unit) : '–';
}

/** Does any lesson of the run carry an exercise row? Then "at a glance" gets a column for it. */
export function hasExercise(results: RunResults): boolean {
  return results.lessons.some((l) => l.headline?.rows.some((r) => r.variant === 'exercise'));
}

export function overviewHeader(results: RunResults): string[] {
  return ['Lesson', 'Headline', 'Baseline', 'Optimised', 'Change ±', ...(hasExercise(results) ? ['Your exercise'] : [])];
}

/**
 * "At a glance": each lesson's featured comparisons on its own headline (one row per pair for lessons whose
 * variants pair up), and the learner's exercise beside them when it ran.
 */
export function overviewRows(results: RunResults): string[][] {
  const ex = hasExercise(results);
  const out: string[][] = [];
  for (const l of results.lessons) {
    const pad = ex ? [''] : [];
    if (l.status === 'skipped') {
      out.push([l.id, '–', '–', '–', `skipped: ${l.reason ?? ''}`, ...pad]);
      continue;
    }
    const h = l.headline;
    if (!h || h.rows.length === 0) {
      out.push([l.id, '–', '–', '–', l.status === 'failed' ? `failed: ${l.reason ?? ''}` : 'no headline figures', ...pad]);
      continue;
    }
    const featured = h.featured.filter((f) => f !== 'exercise');
    const exRow = rowOf(h, 'exercise');
    const exCell = exRow ? `${valueCell(h, exRow)}${exRow.change ? `: ${describeChange(h.better, exRow)}` : ''}` : '';
    const exFailed = l.variants.find((v) => v.name === 'exercise' && v.status === 'failed');
    (featured.length ? featured : ['']).forEach((variant, i) => {
      const r = rowOf(h, variant);
      const base = r?.against ? rowOf(h, r.against) : undefined;
      const status = l.status === 'failed' ? ` (lesson failed: ${l.reason ?? ''})` : '';
      out.push([
        i === 0 ? l.id : '',
        i === 0 ? `${h.name} (${h.better} is better)` : '',
        base ? `${base.variant}: ${valueCell(h, base)}` : '–',
        r ? `${variant}: ${valueCell(h, r)}` : '–',
        `${r ? describeChange(h.better, r) : '–'}${status}`,
        ...(ex ? [i === 0 ? (exFailed ? `FAILED: ${exFailed.error ?? ''}` : exCell) : ''] : []),
      ]);
    });
  }
  return out;
}

export const HEADLINE_TABLE_HEADER = ['Variant', 'Value ± s.e.', 'Against', 'Change', 'README reference'];

/** The lesson's headline table, with the README's reference value of each variant beside the learner's. */
export function headlineTableRows(l: LessonResult, ref?: LessonReference): string[][] {
  const h = l.headline;
  if (!h) return [];
  const rows = [...h.rows].sort((a, b) => Number(b.variant === l.baseline) - Number(a.variant === l.baseline));
  return rows.map((r) => {
    const refRow = ref?.headline?.rows.find((x) => x.variant === r.variant);
    return [
      r.against === undefined ? `${r.variant} (baseline)` : r.variant,
      formatWithError(r.value, r.error, h.unit),
      r.against ?? '',
      r.against ? describeChange(h.better, r) : '',
      refRow ? formatWithError(refRow.value, refRow.error, ref!.headline!.unit) : '',
    ];
  });
}

export function headlineCaption(l: LessonResult): string {
  return l.headline ? `Headline: ${headlineTitle(l.headline)}` : '';
}

/** "README reference: run … (full), AMD EPYC × 2 cores …, commit …, <date>". */
export function referenceLine(ref?: LessonReference): string {
  if (!ref) return 'README reference: none recorded for this lesson yet.';
  return `README reference: \`${ref.command}\`, run ${ref.runId} (${ref.mode}), ${ref.machine}, commit ${ref.commit?.slice(0, 7) ?? 'none'}, ${ref.date.slice(0, 10)}.`;
}

/** Where the learner stands on the lesson's checkpoint. */
export function checkpointLine(l: LessonResult, rec?: CheckpointRecord): string {
  const dir = l.id.split('/')[1];
  if (!rec) return `Checkpoint: not run yet (\`npm run checkpoint -- ${dir}\` checks your exercise.ts).`;
  const when = rec.date.replace('T', ' ').slice(0, 16);
  if (rec.status === 'pass') return `Checkpoint: your exercise.ts passes all ${rec.passed} checks (${when}).`;
  return `Checkpoint: your exercise.ts fails ${rec.failed} of ${rec.passed + rec.failed} checks (${when})${rec.firstFailure ? `; first: ${rec.firstFailure}` : ''}.`;
}

/** "quick · npm run t1 -- --only … · commit …". */
export function provenanceLine(l: LessonResult): string {
  const commit = l.commit ? ` · commit ${l.commit.slice(0, 7)}${l.dirty ? ' (uncommitted changes)' : ''}` : '';
  return `Measured in ${l.mode} mode by \`${l.command ?? 'unknown command'}\`${commit}, ${l.startedAt.replace('T', ' ').slice(0, 16)}.`;
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
  return l.metrics.map((m) => [m.variant ?? '', m.name, formatWithError(m.value, m.error, m.unit), m.note ?? '']);
}
export const METRIC_HEADER = ['Variant', 'Metric', 'Value', 'Note'];
export { metricLine };

export function compareRows(c: RunComparison): string[][] {
  return c.rows.map((r) => [
    r.lesson,
    r.variant,
    r.metric,
    formatWithError(r.previous, undefined, r.unit),
    formatWithError(r.current, undefined, r.unit),
    `${r.change >= 0 ? '+' : ''}${(r.change * 100).toFixed(1)}%`,
    Number.isFinite(r.z) ? r.z.toFixed(1) : String(r.z),
    r.verdict === 'regression' ? 'REGRESSION' : r.verdict === 'improvement' ? 'improved' : '–',
  ]);
}
export const COMPARE_HEADER = ['Lesson', 'Variant', 'Headline', 'Previous run', 'Now', 'Change', 'z', 'Flag'];

export function compareExplanation(c: RunComparison): string {
  return (
    `Compared with run ${c.previousRunId}, lesson by lesson on each lesson's headline. A change is flagged when it goes ` +
    "the wrong way for the metric (up for 'lower is better', down for 'higher is better') by more than 2 combined " +
    'standard errors (z > 2) and 5% of the previous value; z is the difference divided by √(s.e._prev² + s.e._now²).'
  );
}

/** The lesson's README, relative to the report's folder (reports/<run>/). */
export function readmeLinks(results: RunResults, reportDir: string, dirOf: (id: string) => string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const l of results.lessons) {
    const d = dirOf(l.id);
    if (d) out[l.id] = path.relative(reportDir, path.join(d, 'README.md')).split(path.sep).join('/');
  }
  return out;
}
