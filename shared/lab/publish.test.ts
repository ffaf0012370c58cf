import { describe, expect, it } from 'vitest';
import { glanceBlock, lessonBlock, PublishError, referenceOf, replaceBlock } from './publish.ts';
import { fixtureLesson, fixtureResults } from './test-fixtures.ts';

describe('replaceBlock', () => {
  it('replaces what stands between the markers and keeps the rest', () => {
    const text = 'intro\n<!-- lab:glance -->\nold\n<!-- /lab:glance -->\noutro\n';
    expect(replaceBlock(text, 'lab:glance', 'new table')).toBe('intro\n<!-- lab:glance -->\nnew table\n<!-- /lab:glance -->\noutro\n');
  });

  it('refuses a file without the markers, naming it', () => {
    expect(() => replaceBlock('no markers', 'lab:reference', 'x', 'README.md')).toThrow(PublishError);
    expect(() => replaceBlock('no markers', 'lab:reference', 'x', 'README.md')).toThrow(/README\.md has no "<!-- lab:reference -->"/);
  });
});

describe('what a publish writes', () => {
  const results = fixtureResults();
  const lesson = fixtureLesson();
  const withMetric = { ...lesson, headline: { ...lesson.headline!, name: '/healthz p99 while busy', metric: 'p99' } };

  it('a lesson block that names the run and machine, leads with the headline, then the time per call', () => {
    const block = lessonBlock(results, withMetric);
    expect(block).toMatch(/run `2026-11-25T20-00-00Z-abc1234`, Test CPU × 2 cores/);
    expect(block.indexOf('/healthz p99 while busy')).toBeLessThan(block.indexOf('**Time per call**'));
    expect(block).toMatch(/\| after \| .* \| before \| [\d.]+× ± [\d.]+ lower \|/);
  });

  it('a glance table of headlines, never "slower" for a lesson whose own metric improved', () => {
    const block = glanceBlock(results);
    expect(block).toMatch(/\| t1\/01-demo \| time per call \(lower is better\) \| before: .* \| after: .* \| [\d.]+× ± [\d.]+ lower \|/);
    expect(block).not.toMatch(/slower|worse/);
    expect(block).toContain('skipped: Redis unreachable');
  });

  it('reference.json keeps the headline rows and the duration per mode', () => {
    const ref = referenceOf({ ...results, env: { ...results.env } }, lesson, 1234);
    expect(ref.headline?.rows.map((r) => r.variant)).toEqual(['before', 'after']);
    expect(ref.durationMs).toEqual({ quick: 1234 });
    expect(ref.timeMs.after).toBeCloseTo(1, 6);
  });
});
