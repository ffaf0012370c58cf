/** index.html: one self-contained page (inline CSS and SVG, no scripts, no fonts, no network). */
import type { RunResults } from '../results.ts';
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

/** Rendered charts, keyed by what they show. */
export interface ChartSet {
  /** Every lesson's featured variants on their headline. */
  headline?: string;
  latency: Map<string, string>;
  /** lesson id → curve id → svg */
  curves: Map<string, Map<string, string>>;
  /** The capstone soak's p99 and availability per window (with a release.json). */
  release?: string;
}

export function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** Turn `code` and **bold** spans of the shared text into HTML. */
function inline(s: string): string {
  return esc(s)
    .replace(/`([^`]+)`/g, '<code>$1</code>')
    .replace(/\*\*([^*]+)\*\*/g, '<strong>$1</strong>');
}

function table(header: string[], rows: string[][], numericFrom = 1, rowClass?: (r: string[]) => string, tableClass?: string, cell: (s: string) => string = esc): string {
  const th = header.map((h, i) => `<th${i >= numericFrom ? ' class="num"' : ''}>${esc(h)}</th>`).join('');
  const body = rows
    .map((r) => {
      const cls = rowClass?.(r);
      return `<tr${cls ? ` class="${cls}"` : ''}>${r.map((c, i) => `<td${i >= numericFrom ? ' class="num"' : ''}>${cell(c)}</td>`).join('')}</tr>`;
    })
    .join('\n');
  return `<table${tableClass ? ` class="${tableClass}"` : ''}><thead><tr>${th}</tr></thead><tbody>\n${body}\n</tbody></table>`;
}

const CSS = `
:root { --fg:#111827; --muted:#6b7280; --line:#e5e7eb; --accent:#1d4ed8; --bad:#b91c1c; --good:#15803d; --bg:#ffffff; --soft:#f9fafb; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.55 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); }
main { max-width: 980px; margin: 0 auto; padding: 32px 24px 64px; }
h1 { font-size: 26px; margin: 0 0 4px; } h2 { font-size: 20px; margin: 40px 0 8px; padding-top: 8px; border-top: 1px solid var(--line); }
h3 { font-size: 16px; margin: 24px 0 8px; color: #374151; }
p, li { max-width: 78ch; } .muted { color: var(--muted); } code { font: 13px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; background: var(--soft); padding: 1px 4px; border-radius: 4px; }
table { border-collapse: collapse; margin: 8px 0 16px; font-size: 14px; }
th, td { padding: 5px 12px; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
th { background: var(--soft); font-weight: 600; } td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
table.env td:first-child { color: var(--muted); padding-right: 24px; }
table.glance { font-size: 13px; } table.glance td:first-child { white-space: nowrap; font-weight: 600; }
tr.failed td { color: var(--bad); } tr.regression td { color: var(--bad); font-weight: 600; } tr.improvement td { color: var(--good); }
.summary { list-style: none; padding: 0; } .summary li::before { content: "→ "; color: var(--accent); }
figure { margin: 12px 0 20px; } figcaption { color: var(--muted); font-size: 13px; max-width: 78ch; }
.status { display: inline-block; font-size: 12px; padding: 1px 8px; border-radius: 10px; margin-left: 8px; vertical-align: middle; }
.status.failed { background: #fee2e2; color: var(--bad); } .status.skipped { background: #fef3c7; color: #92400e; }
.warn { background: #fef3c7; padding: 8px 12px; border-radius: 6px; }
nav ul { columns: 2; padding-left: 18px; } svg { max-width: 100%; height: auto; }
`;

/** The capstone soak's release report (the run folder's release.json): targets, windows (and their chart), faults, writes, alerts. */
export function releaseHtml(r: ReleaseReport, chart?: string): string {
  const parts: string[] = [`<h2 id="release">${esc(RELEASE_TITLE)}</h2>`];
  parts.push(`<p>${inline(releaseSummaryLine(r))} <span class="muted">From <code>${esc(RELEASE_FILE)}</code> (the whole text: RELEASE.md beside it).</span></p>`);
  parts.push('<h3>Against the targets</h3>', table(RELEASE_TARGETS_HEADER, releaseTargetRows(r), 99, (row) => (row[2] === 'no' ? 'failed' : ''), undefined, inline));
  parts.push(`<h3>Per ${esc(releaseWindowName(r))}</h3>`, table(RELEASE_WINDOWS_HEADER, releaseWindowRows(r)));
  if (chart) {
    parts.push(
      `<figure>${chart}<figcaption>Per ${esc(releaseWindowName(r))}: p99 of the available answers (top, log scale) and availability ` +
        `(bottom); red dashed lines: the targets; grey dashed lines: the faults.</figcaption></figure>`,
    );
  }
  parts.push('<h3>Faults</h3>');
  if (r.faults.length) parts.push(table(RELEASE_FAULTS_HEADER, releaseFaultRows(r), 2, undefined, undefined, inline), `<p class="muted">${esc(RELEASE_FAULTS_NOTE)}</p>`);
  else parts.push('<p>No fault injected.</p>');
  parts.push(`<h3>Writes</h3><p>${inline(releaseWritesLine(r))}</p>`);
  parts.push('<h3>Alerts (Prometheus <code>ALERTS</code> over the run)</h3>');
  const alerts = releaseAlerts(r);
  parts.push('rows' in alerts ? table(RELEASE_ALERTS_HEADER, alerts.rows, 99) : `<p>${esc(alerts.line)}</p>`);
  if (r.notes.length) parts.push(`<h3>Read with care</h3><ul>${r.notes.map((n) => `<li>${inline(n)}</li>`).join('')}</ul>`);
  return parts.join('\n');
}

export function renderHtml(results: RunResults, charts: ChartSet, comparison?: RunComparison, context: ReportContext = EMPTY_CONTEXT): string {
  const parts: string[] = [];
  parts.push(`<h1>RAG performance lab</h1><p class="muted">Run <code>${esc(results.runId)}</code></p>`);
  parts.push(
    `<table class="env"><tbody>${envRows(results.env, results.runId)
      .map(([k, v]) => `<tr><td>${esc(k)}</td><td>${esc(v)}</td></tr>`)
      .join('')}</tbody></table>`,
  );

  if (results.lessons.length > 0) {
    parts.push(
      `<h2 id="glance">At a glance</h2><p class="muted">Each lesson on its own headline metric, against its own baseline. ` +
        '"no change beyond noise": the measurement cannot tell it from none.</p>',
      table(overviewHeader(results), overviewRows(results), 99, (r) => (r[4]?.includes('(worse)') ? 'failed' : ''), 'glance'),
    );
    parts.push(
      `<nav><ul>${results.lessons
        .map((l) => `<li><a href="#${esc(l.id)}">${esc(l.id)}</a> — ${esc(l.title)}${l.status !== 'ok' ? ` <span class="status ${l.status}">${l.status}</span>` : ''}</li>`)
        .join('')}</ul></nav>`,
    );
  }

  if (charts.headline) {
    parts.push(
      `<h2 id="headlines">Each lesson on its own metric</h2><figure>${charts.headline}<figcaption>Each featured variant (and your exercise, when ` +
        "measured) against its own baseline on its lesson's headline: how many times better, whether the metric is a " +
        'latency (lower is better) or a throughput (higher is better). Bar: ± one standard error. Dashed line: no change. ' +
        'Grey: within noise. Red: worse. Log scale.</figcaption></figure>',
    );
  }

  if (comparison) {
    const regs = comparison.rows.filter((r) => r.verdict === 'regression').length;
    parts.push(`<h2 id="compare">Compared with ${esc(comparison.previousRunId)}</h2><p>${esc(compareExplanation(comparison))}</p>`);
    for (const w of comparison.envWarnings) parts.push(`<p class="warn">${esc(w)}: absolute values are not comparable.</p>`);
    parts.push(`<p><strong>${regs ? `${regs} regression(s) flagged.` : 'No regression beyond the measured noise.'}</strong></p>`);
    if (comparison.rows.length) {
      parts.push(table(COMPARE_HEADER, compareRows(comparison), 3, (r) => (r[7] === 'REGRESSION' ? 'regression' : r[7] === 'improved' ? 'improvement' : '')));
    }
    if (comparison.unmatched.length) parts.push(`<p class="muted">Not compared: ${esc(comparison.unmatched.join('; '))}</p>`);
  }

  if (context.release) parts.push(releaseHtml(context.release, charts.release));

  parts.push(`<h2 id="method">Method</h2><ul>${methodPoints(results).map((p) => `<li>${inline(p)}</li>`).join('')}</ul>`);

  for (const l of results.lessons) {
    const badge = l.status !== 'ok' ? ` <span class="status ${l.status}">${l.status}</span>` : '';
    parts.push(`<h2 id="${esc(l.id)}">${esc(l.id)} — ${esc(l.title)}${badge}</h2>`);
    const readme = context.readmes[l.id];
    if (readme) parts.push(`<p class="muted">The lesson: <a href="${esc(readme)}">README</a></p>`);
    if (l.status === 'skipped') {
      parts.push(`<p>Skipped: ${esc(l.reason ?? '')}</p>`);
      continue;
    }
    if (l.workload) parts.push(`<p>Workload: ${esc(l.workload)}. Size (${esc(l.mode)}): <code>${esc(JSON.stringify(l.size))}</code>.</p>`);
    parts.push(`<p class="muted">${inline(provenanceLine(l))}</p>`);
    if (l.headline?.rows.length) {
      parts.push(`<h3>${esc(headlineCaption(l))}</h3>`);
      parts.push(table(HEADLINE_TABLE_HEADER, headlineTableRows(l, context.references[l.id]), 1, (r) => (r[3]?.includes('(worse)') ? 'failed' : '')));
      parts.push(`<p class="muted">${inline(referenceLine(context.references[l.id]))}</p>`);
    }
    parts.push(`<p>${inline(checkpointLine(l, context.checkpoints[l.id]))}</p>`);
    if (l.variants.length) {
      parts.push('<h3>Time per call</h3>', table(TABLE_HEADER, lessonTableRows(l), 1, (r) => (r[1].startsWith('FAILED') ? 'failed' : '')));
    }
    const lines = summaryLines(l);
    if (lines.length) parts.push(`<ul class="summary">${lines.map((s) => `<li>${esc(s)}</li>`).join('')}</ul>`);
    const lat = charts.latency.get(l.id);
    if (lat) {
      parts.push(
        `<h3>Latency distribution</h3><figure>${lat}<figcaption>Per variant: grey line min to max, blue bar p50 to p99, ` +
          'blue dot p50 (median), red tick mean. A mean far right of the median means a few slow calls (GC, JIT, outliers).</figcaption></figure>',
      );
    }
    const mem = memoryRows(l);
    if (mem.length) parts.push('<h3>Memory</h3>', table(MEMORY_HEADER, mem));
    const met = metricRows(l);
    if (met.length) parts.push('<h3>Metrics</h3>', table(METRIC_HEADER, met, 2));
    for (const c of l.curves) {
      const svg = charts.curves.get(l.id)?.get(c.id);
      if (svg) parts.push(`<h3>${esc(c.title)}</h3><figure>${svg}<figcaption>${esc(c.yLabel)} against ${esc(c.xLabel)}${c.xLog ? ' (log x)' : ''}.</figcaption></figure>`);
    }
    if (l.status === 'failed') parts.push(`<p class="warn"><strong>Failed:</strong> ${esc(l.reason ?? '')}</p>`);
  }
  if (results.lessons.length === 0) parts.push('<p>No lessons in this run.</p>');

  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Lab report ${esc(results.runId)}</title>
<style>${CSS}</style>
</head>
<body>
<main>
${parts.join('\n')}
<p class="muted">Generated by <code>npm run report</code> from <code>reports/${esc(results.runId)}/results.json</code>${context.release ? ` and <code>${esc(RELEASE_FILE)}</code>` : ''}. How to read it: <code>docs/reading-a-report.md</code>.</p>
</main>
</body>
</html>
`;
}
