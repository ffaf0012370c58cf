import { describe, expect, it } from 'vitest';
import { againstOf, compareOnHeadline, computeHeadline, describeChange, featuredOf } from './headline.ts';
import type { Metric } from './lesson.ts';
import type { VariantResult } from './results.ts';
import { summarize } from '../util/stats.ts';

const ok = (name: string, samples: number[]): VariantResult => ({ name, status: 'ok', stats: summarize(samples) });

describe('compareOnHeadline', () => {
  it('calls a lower latency better and a lower throughput worse', () => {
    expect(compareOnHeadline('lower', { value: 100, error: 1 }, { value: 10, error: 0.1 })).toMatchObject({ verdict: 'better', change: { value: 10 } });
    expect(compareOnHeadline('higher', { value: 100, error: 1 }, { value: 50, error: 1 })).toMatchObject({ verdict: 'worse', change: { value: 0.5 } });
  });

  it('says "within noise" when the change is inside two standard errors', () => {
    const c = compareOnHeadline('lower', { value: 100, error: 5 }, { value: 95, error: 5 });
    expect(c.verdict).toBe('within noise');
    expect(c.change.error).toBeCloseTo((100 / 95) * Math.hypot(5 / 100, 5 / 95), 10);
  });

  it('judges on the log scale: a large factor with a wide error is still a change', () => {
    expect(compareOnHeadline('lower', { value: 990, error: 400 }, { value: 50, error: 5 }).verdict).toBe('better');
    expect(compareOnHeadline('lower', { value: 100, error: 30 }, { value: 80, error: 20 }).verdict).toBe('within noise');
  });

  it('leaves the error out when either side was measured once', () => {
    expect(compareOnHeadline('lower', { value: 100 }, { value: 50, error: 1 }).change.error).toBeUndefined();
  });
});

describe('describeChange', () => {
  it('reads in the direction of the metric, and says "worse" only when it is', () => {
    expect(describeChange('lower', { change: { value: 35.8, error: 4.1 }, verdict: 'better' })).toBe('35.8× ± 4.1 lower');
    expect(describeChange('higher', { change: { value: 1.41, error: 0.05 }, verdict: 'better' })).toBe('1.41× ± 0.05 higher');
    expect(describeChange('lower', { change: { value: 0.5, error: 0.05 }, verdict: 'worse' })).toBe('2.00× ± 0.20 higher (worse)');
    expect(describeChange('lower', { change: { value: 1.02, error: 0.03 }, verdict: 'within noise' })).toBe('no change beyond noise (1.02× ± 0.03)');
  });

  it('an improvement to 0 (an infinite ratio, stored as null in the results JSON) reads as better, not worse', () => {
    // 394 failed requests → 0: compareOnHeadline's ratio is Infinity, which JSON.stringify writes as null
    const row = JSON.parse(JSON.stringify(compareOnHeadline('lower', { value: 394, error: 16 }, { value: 0, error: 0 })));
    expect(row.verdict).toBe('better');
    expect(describeChange('lower', row)).toBe('down to 0 (∞× lower)');
    expect(describeChange('higher', compareOnHeadline('higher', { value: 0 }, { value: 5 }))).toBe('up from 0 (∞× higher)');
    expect(describeChange('lower', compareOnHeadline('lower', { value: 0 }, { value: 5 }))).toBe('up from 0 (∞× higher) (worse)');
  });
});

describe('pairs and featured variants', () => {
  const spec = { headline: { name: 'x', unit: 'ms', better: 'lower' as const }, baseline: 'http: naive', pairs: { 'redis: pooled': 'redis: naive', 'http: pooled': 'http: naive' } };

  it('compares each variant with its own pair, pairs\' baselines with nothing, the rest with the baseline, the exercise like after', () => {
    expect(againstOf(spec, 'redis: pooled')).toBe('redis: naive');
    expect(againstOf(spec, 'redis: naive')).toBeUndefined(); // a pair's baseline is a baseline itself
    expect(againstOf(spec, 'memcached: naive')).toBe('http: naive');
    expect(againstOf(spec, 'http: naive')).toBeUndefined();
    expect(againstOf({ ...spec, pairs: { after: 'sync' } }, 'exercise')).toBe('sync');
  });

  it('features the pairs, else after, and adds the exercise when it ran', () => {
    expect(featuredOf(spec, ['http: naive', 'http: pooled', 'redis: naive', 'redis: pooled'])).toEqual(['redis: pooled', 'http: pooled']);
    expect(featuredOf({ headline: spec.headline, baseline: 'before' }, ['before', 'worker', 'after', 'exercise'])).toEqual(['after', 'exercise']);
    expect(featuredOf({ headline: spec.headline, baseline: 'before' }, ['before', 'after (hnswlib)'])).toEqual(['after (hnswlib)']);
  });
});

describe('computeHeadline', () => {
  const variants = [ok('before', [10, 11, 12]), ok('after', [1, 1.1, 0.9]), ok('worker', [2, 2, 2]), { name: 'broken', status: 'failed' as const, error: 'x' }];

  it('uses the mean time per call when no metric is named', () => {
    const { result, missing } = computeHeadline({ headline: { name: 't', unit: 'ms', better: 'lower' }, baseline: 'before' }, variants, []);
    expect(missing).toEqual([]);
    expect(result.rows.map((r) => r.variant)).toEqual(['before', 'after', 'worker']);
    expect(result.rows[1]).toMatchObject({ against: 'before', verdict: 'better' });
    expect(result.rows[1].change!.value).toBeCloseTo(11 / 1, 10);
  });

  it('reads the named metric per variant and names the variants that lack it', () => {
    const metrics: Metric[] = [
      { name: 'p99', value: 800, error: 20, unit: 'ms', variant: 'before' },
      { name: 'p99', value: 20, error: 2, unit: 'ms', variant: 'after' },
      { name: 'other', value: 1, unit: 'ms', variant: 'worker' },
    ];
    const { result, missing } = computeHeadline({ headline: { name: '/healthz p99', unit: 'ms', better: 'lower', metric: 'p99' }, baseline: 'before' }, variants, metrics);
    expect(missing).toEqual(['worker']);
    expect(result.rows.find((r) => r.variant === 'after')).toMatchObject({ value: 20, error: 2, verdict: 'better' });
  });
});
