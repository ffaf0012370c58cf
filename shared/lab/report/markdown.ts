/** REPORT.md: the same tables as the HTML report, for reading in a terminal, a PR or a README. */
import type { RunResults } from '../results.ts';
import { renderMarkdownTable } from '../../util/table.ts';
import type { RunComparison } from './compare.ts';
import {
  COMPARE_HEADER,
  compareExplanation,
  compareRows,
  envRows,
  lessonTableRows,
  MEMORY_HEADER,
  memoryRows,
  METRIC_HEADER,
  metricRows,
  methodPoints,
  OVERVIEW_HEADER,
  overviewRows,
  summaryLines,
  TABLE_HEADER,
} from './model.ts';

const RIGHT: Array<'l' | 'r'> = ['l', 'r', 'r', 'r', 'r', 'r', 'r'];

export function renderMarkdown(results: RunResults, comparison?: RunComparison): string {
  const out: string[] = [];
  out.push(`# RAG performance lab — run ${results.runId}`, '');
  out.push(renderMarkdownTable(['', ''], envRows(results.env, results.runId).map(([k, v]) => [`**${k}**`, v])), '');
  out.push('## Method', '', ...methodPoints(results).map((p) => `- ${p}`), '');
  if (results.lessons.length) {
    out.push('## At a glance', '', renderMarkdownTable(OVERVIEW_HEADER, overviewRows(results), ['l', 'l', 'r', 'l', 'r', 'r']), '');
  }

  if (comparison) {
    out.push(`## Compared with ${comparison.previousRunId}`, '', compareExplanation(comparison), '');
    for (const w of comparison.envWarnings) out.push(`> **Warning:** ${w}: absolute times are not comparable.`, '');
    const regs = comparison.rows.filter((r) => r.verdict === 'regression');
    out.push(regs.length ? `**${regs.length} regression(s) flagged.**` : 'No regression beyond the measured noise.', '');
    if (comparison.rows.length) out.push(renderMarkdownTable(COMPARE_HEADER, compareRows(comparison), ['l', 'l', 'r', 'r', 'r', 'r', 'l']), '');
    if (comparison.unmatched.length) out.push(`Not compared: ${comparison.unmatched.join('; ')}`, '');
  }

  for (const l of results.lessons) {
    out.push(`## ${l.id} — ${l.title}`, '');
    if (l.status === 'skipped') {
      out.push(`Skipped: ${l.reason ?? ''}`, '');
      continue;
    }
    if (l.workload) out.push(`Workload: ${l.workload}. Size (${l.mode}): \`${JSON.stringify(l.size)}\`.`, '');
    if (l.variants.length) out.push(renderMarkdownTable(TABLE_HEADER, lessonTableRows(l), RIGHT), '');
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
