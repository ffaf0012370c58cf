import { describe, expect, it } from 'vitest';
import { buildReport } from './report/build.ts';
import { compareRuns } from './report/compare.ts';
import { fixtureResults } from './test-fixtures.ts';

describe('report', () => {
  it('builds a self-contained HTML page with inline SVG charts', async () => {
    const { html } = await buildReport(fixtureResults());
    expect(html.startsWith('<!doctype html>')).toBe(true);
    // speed-up chart, one latency chart (the skipped lesson has none), one declared curve
    expect(html.match(/<svg/g)?.length).toBe(3);
    expect(html).not.toMatch(/<script|<link|@import|url\(\s*['"]?https?:/i);
    expect(html).not.toMatch(/(src|href)=["']https?:/i);
    expect(html).toContain('Test CPU');
    expect(html).toContain('Method');
    expect(html).toContain('FAILED: boom');
    expect(html).toContain('Skipped: Redis unreachable');
    expect(html).toContain('Recall against speed');
  });

  it('writes the same tables to markdown, baseline at 1.00', async () => {
    const { markdown } = await buildReport(fixtureResults());
    expect(markdown).toContain('| Variant | Mean ± σ | p99 | ops/s | ± rme | Samples | Relative ± |');
    expect(markdown).toMatch(/\| before \(baseline\) \| .* \| 1\.00 \|/);
    expect(markdown).toMatch(/after is [\d.]+× ± [\d.]+ faster than before/);
    expect(markdown).toContain('| after | throughput | 123 docs/s | pipeline |');
    expect(markdown).toContain('**CPU** | Test CPU × 2 cores');
  });

  it('flags a regression against an earlier run and shows it', async () => {
    const previous = fixtureResults('2026-11-24T10-00-00Z-old');
    const current = fixtureResults('2026-11-25T10-00-00Z-new', 1.5);
    const c = compareRuns(current, previous);
    expect(c.rows.filter((r) => r.verdict === 'regression').map((r) => r.variant)).toEqual(['before', 'after']);
    const { markdown, html } = await buildReport(current, previous);
    expect(markdown).toContain('2 regression(s) flagged');
    expect(html).toContain('class="regression"');
  });

  it('reports no regression for identical runs', () => {
    const c = compareRuns(fixtureResults('b'), fixtureResults('a'));
    expect(c.rows.every((r) => r.verdict === 'unchanged')).toBe(true);
  });
});
