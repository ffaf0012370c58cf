import { describe, expect, it } from 'vitest';
import { formatMeanSd, formatMs, renderMarkdownTable } from '../util/table.ts';
import { orderVariants, renderLessonText, summaryLine } from './lesson-table.ts';
import { fixtureLesson } from './test-fixtures.ts';

describe('formatting', () => {
  it('picks one unit for mean and σ', () => {
    expect(formatMeanSd(12.34, 0.5)).toBe('12.3 ms ± 0.500 ms');
    expect(formatMeanSd(0.25, 0.01)).toBe('250 µs ± 10.0 µs');
    expect(formatMs(1500)).toBe('1.50 s');
  });

  it('says "faster" or "slower" with the factor', () => {
    expect(summaryLine('after', { value: 12.43, error: 0.61 }, 'before')).toBe('after is 12.4× ± 0.6 faster than before');
    expect(summaryLine('after', { value: 0.5, error: 0.05 }, 'before')).toBe('after is 2.00× ± 0.20 slower than before');
  });

  it('escapes pipes in markdown cells', () => {
    expect(renderMarkdownTable(['a'], [['x|y']])).toContain('x\\|y');
  });
});

describe('lesson table', () => {
  it('orders slowest first and failed variants last', () => {
    expect(orderVariants(fixtureLesson().variants).map((v) => v.name)).toEqual(['before', 'after', 'broken']);
  });

  it('labels failed variants with their message instead of hiding them', () => {
    const text = renderLessonText(fixtureLesson());
    expect(text).toContain('FAILED: boom');
    expect(text).toContain('before (baseline)');
    expect(text).toMatch(/after is \d+(\.\d+)?× ± [\d.]+ faster than before/);
  });
});
