/** REPORT.md: the same tables as the HTML report, for reading in a terminal, a PR or a README. */
import type { RunResults } from '../results.ts';
import { renderMarkdownTable } from '../../util/table.ts';
import type { RunComparison } from './compare.ts';
import {
  RELEASE_ALERTS_HEADER,
  RELEASE_FAULTS_HEADER,
  RELEASE_FAULTS_NOTE,
  RELEASE_TARGETS_HEADER,
  RELEASE_WINDOWS_HEADER,
  releaseAlerts,
  releaseFaultRows,
  releaseSummaryLine,
  releaseTargetRows,
  releaseWindowName,
  releaseWindowRows,
  releaseWritesLine,
  type ReleaseReport,
} from '../../deploy/release-report.ts';
import { RELEASE_FILE, RELEASE_TITLE } from './release.ts';
import {
  checkpointLine,
  COMPARE_HEADER,
  compareExplanation,
  compareRows,
  EMPTY_CONTEXT,
  envRows,
  headlineCaption,
  HEADLINE_TABLE_HEADER,
  headlineTableRows,
  lessonTableRows,
  MEMORY_HEADER,
  memoryRows,
  METRIC_HEADER,
  metricRows,
  methodPoints,
  overviewHeader,
  overviewRows,
  provenanceLine,
  referenceLine,
  summaryLines,
  TABLE_HEADER,
  type ReportContext,
} from './model.ts';

const RIGHT: Array<'l' | 'r'> = ['l', 'r', 'r', 'r', 'r', 'r', 'r'];

/** The capstone soak's release report (the run folder's release.json): targets, windows, faults, writes, alerts. */
export function releaseMarkdown(r: ReleaseReport): string[] {
  const out: string[] = [`## ${RELEASE_TITLE}`, ''];
  out.push(`${releaseSummaryLine(r)} From \`${RELEASE_FILE}\` (the whole text: RELEASE.md beside it).`, '');
  out.push('**Against the targets**', '');
  out.push(renderMarkdownTable(RELEASE_TARGETS_HEADER, releaseTargetRows(r).map(([t, m, met]) => [t, m, met === 'yes' ? 'yes' : '**no**'])), '');
  out.push(`**Per ${releaseWindowName(r)}**`, '');
  const windows = releaseWindowRows(r).map((row, i, all) => (i === all.length - 1 ? [`**${row[0]}**`, ...row.slice(1)] : row));
  out.push(renderMarkdownTable(RELEASE_WINDOWS_HEADER, windows, ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r']), '');
  out.push('**Faults**', '');
  if (r.faults.length) out.push(renderMarkdownTable(RELEASE_FAULTS_HEADER, releaseFaultRows(r), ['r', 'l', 'r', 'r', 'r', 'r', 'l']), '', RELEASE_FAULTS_NOTE, '');
  else out.push('No fault injected.', '');
  out.push(`**Writes**: ${releaseWritesLine(r)}`, '');
  out.push('**Alerts** (Prometheus `ALERTS` over the run)', '');
  const alerts = releaseAlerts(r);
  out.push('rows' in alerts ? renderMarkdownTable(RELEASE_ALERTS_HEADER, alerts.rows) : alerts.line, '');
  if (r.notes.length) out.push('**Read with care**', '', ...r.notes.map((n) => `- ${n}`), '');
  return out;
}

export function renderMarkdown(results: RunResults, comparison?: RunComparison, context: ReportContext = EMPTY_CONTEXT): string {
  const out: string[] = [];
  out.push(`# RAG performance lab — run ${results.runId}`, '');
  out.push(renderMarkdownTable(['', ''], envRows(results.env, results.runId).map(([k, v]) => [`**${k}**`, v])), '');
  if (results.lessons.length) {
    out.push('## At a glance', '', "Each lesson on its own headline metric, against its own baseline.", '');
    out.push(renderMarkdownTable(overviewHeader(results), overviewRows(results)), '');
  }

  if (comparison) {
    out.push(`## Compared with ${comparison.previousRunId}`, '', compareExplanation(comparison), '');
    for (const w of comparison.envWarnings) out.push(`> **Warning:** ${w}: absolute values are not comparable.`, '');
    const regs = comparison.rows.filter((r) => r.verdict === 'regression');
    out.push(regs.length ? `**${regs.length} regression(s) flagged.**` : 'No regression beyond the measured noise.', '');
    if (comparison.rows.length) out.push(renderMarkdownTable(COMPARE_HEADER, compareRows(comparison), ['l', 'l', 'l', 'r', 'r', 'r', 'r', 'l']), '');
    if (comparison.unmatched.length) out.push(`Not compared: ${comparison.unmatched.join('; ')}`, '');
  }

  if (context.release) out.push(...releaseMarkdown(context.release));

  out.push('## Method', '', ...methodPoints(results).map((p) => `- ${p}`), '');

  for (const l of results.lessons) {
    out.push(`## ${l.id} — ${l.title}`, '');
    const readme = context.readmes[l.id];
    if (readme) out.push(`Lesson: [README](${readme}).`, '');
    if (l.status === 'skipped') {
      out.push(`Skipped: ${l.reason ?? ''}`, '');
      continue;
    }
    if (l.workload) out.push(`Workload: ${l.workload}. Size (${l.mode}): \`${JSON.stringify(l.size)}\`.`, '');
    out.push(provenanceLine(l), '');
    if (l.headline?.rows.length) {
      out.push(`**${headlineCaption(l)}**`, '');
      out.push(renderMarkdownTable(HEADLINE_TABLE_HEADER, headlineTableRows(l, context.references[l.id]), ['l', 'r', 'l', 'r', 'r']), '');
      out.push(referenceLine(context.references[l.id]), '');
    }
    out.push(checkpointLine(l, context.checkpoints[l.id]), '');
    if (l.variants.length) out.push('**Time per call**', '', renderMarkdownTable(TABLE_HEADER, lessonTableRows(l), RIGHT), '');
    const lines = summaryLines(l);
    if (lines.length) out.push(...lines.map((s) => `- ${s}`), '');
    const mem = memoryRows(l);
    if (mem.length) out.push(renderMarkdownTable(MEMORY_HEADER, mem, ['l', 'r', 'r', 'r', 'r']), '');
    const met = metricRows(l);
    if (met.length) out.push(renderMarkdownTable(METRIC_HEADER, met, ['l', 'l', 'r', 'l']), '');
    for (const c of l.curves) out.push(`Curve: ${c.title} (${c.points.length} points; drawn in index.html).`, '');
    if (l.status === 'failed') out.push(`**Failed:** ${l.reason ?? ''}`, '');
  }
  if (results.lessons.length === 0) out.push('No lessons in this run.', '');
  return `${out.join('\n').trimEnd()}\n`;
}
