import { describe, expect, it } from 'vitest';
import { buildReport } from './report/build.ts';
import { compareRuns } from './report/compare.ts';
import { fixtureLesson, fixtureResults } from './test-fixtures.ts';
import { computeHeadline } from './headline.ts';
import type { LessonResult, RunResults } from './results.ts';

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

/** A lesson whose optimised variant is slower per call but far better on the figure the lesson is about. */
function queueLesson(p99: Record<string, number>, better: 'lower' | 'higher' = 'lower'): LessonResult {
  const l = fixtureLesson('t1/03-queue');
  // per call, after is slower than before (the queue adds round trips)
  const variants = [l.variants[1], { ...l.variants[0], name: 'after' }].map((v, i) => ({ ...v, name: i === 0 ? 'before' : 'after' }));
  const metrics = Object.entries(p99).map(([variant, value]) => ({ name: 'API p99', value, error: value * 0.02, unit: 'ms', variant }));
  const { result } = computeHeadline({ headline: { name: 'API p99 under 32 clients', unit: 'ms', better, metric: 'API p99' }, baseline: 'before' }, variants, metrics);
  return { ...l, variants, metrics, headline: result };
}

describe('report on headlines', () => {
  it('leads "at a glance" with each lesson\'s own metric: no "slower" where the lesson wins', async () => {
    const results: RunResults = { ...fixtureResults(), lessons: [queueLesson({ before: 1673, after: 556, exercise: 900 })] };
    const { markdown } = await buildReport(results, undefined, {
      references: {},
      checkpoints: { 't1/03-queue': { impl: 'exercise', status: 'fail', passed: 3, failed: 1, date: '2026-11-30T10:00:00Z', firstFailure: 'jobId = doc.id dropped the update' } },
      readmes: { 't1/03-queue': '../../t1/03-queue/README.md' },
    });
    const glance = markdown.slice(markdown.indexOf('## At a glance'), markdown.indexOf('## Method'));
    expect(glance).toMatch(/API p99 under 32 clients \(lower is better\) \| before: 1\.67 s .* \| after: 556 ms .* \| 3\.01× ± [\d.]+ lower \|/);
    expect(glance).not.toMatch(/slower|worse/);
    expect(markdown).toContain('[README](../../t1/03-queue/README.md)');
    expect(markdown).toContain('Checkpoint: your exercise.ts fails 1 of 4 checks (2026-11-30 10:00); first: jobId = doc.id dropped the update.');
  });

  it('says "worse" only when the lesson\'s own metric got worse beyond noise', async () => {
    const results: RunResults = { ...fixtureResults(), lessons: [queueLesson({ before: 500, after: 1000 })] };
    const { markdown } = await buildReport(results);
    expect(markdown).toMatch(/2\.00× ± [\d.]+ higher \(worse\)/);
  });

  it('compares runs in the direction of the metric: a throughput that falls is the regression', () => {
    const prev = { ...fixtureResults('a'), lessons: [queueLesson({ before: 1000, after: 2000 }, 'higher')] };
    const cur = { ...fixtureResults('b'), lessons: [queueLesson({ before: 1000, after: 1500 }, 'higher')] };
    const c = compareRuns(cur, prev);
    expect(c.rows.map((r) => [r.variant, r.verdict])).toEqual([
      ['before', 'unchanged'],
      ['after', 'regression'],
    ]);
  });
});
