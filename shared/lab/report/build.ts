/**
 * Build a run's report (index.html + REPORT.md) from its results, optionally compared with an earlier run; the context
 * brings what the run folder holds beside them (the capstone soak's release.json: release.ts).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { RunResults } from '../results.ts';
import { curveSpec, headlineSpec, latencySpec, releaseSpec, renderSvg } from './charts.ts';
import { compareRuns, type RunComparison } from './compare.ts';
import { renderHtml, type ChartSet } from './html.ts';
import { renderMarkdown } from './markdown.ts';
import { EMPTY_CONTEXT, type ReportContext } from './model.ts';
import type { ReleaseReport } from '../../deploy/release-report.ts';

export interface BuiltReport {
  html: string;
  markdown: string;
  comparison?: RunComparison;
}

export async function renderCharts(results: RunResults, release?: ReleaseReport): Promise<ChartSet> {
  const charts: ChartSet = { latency: new Map(), curves: new Map() };
  const sp = headlineSpec(results.lessons);
  if (sp) charts.headline = await renderSvg(sp);
  for (const l of results.lessons) {
    const lat = latencySpec(l);
    if (lat) charts.latency.set(l.id, await renderSvg(lat));
    const m = new Map<string, string>();
    for (const c of l.curves) {
      const spec = curveSpec(c);
      if (spec) m.set(c.id, await renderSvg(spec));
    }
    charts.curves.set(l.id, m);
  }
  const rel = release ? releaseSpec(release) : undefined;
  if (rel) charts.release = await renderSvg(rel);
  return charts;
}

export async function buildReport(results: RunResults, previous?: RunResults, context: ReportContext = EMPTY_CONTEXT): Promise<BuiltReport> {
  const comparison = previous ? compareRuns(results, previous) : undefined;
  const charts = await renderCharts(results, context.release);
  return {
    html: renderHtml(results, charts, comparison, context),
    markdown: renderMarkdown(results, comparison, context),
    ...(comparison ? { comparison } : {}),
  };
}

/** Write index.html and REPORT.md next to the run's results.json; returns their paths. */
export function writeReport(dir: string, report: BuiltReport): { html: string; markdown: string } {
  fs.mkdirSync(dir, { recursive: true });
  const html = path.join(dir, 'index.html');
  const markdown = path.join(dir, 'REPORT.md');
  fs.writeFileSync(html, report.html);
  fs.writeFileSync(markdown, report.markdown);
  return { html, markdown };
}
