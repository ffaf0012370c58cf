import { describe, expect, it } from 'vitest';
import { compareMeans, describeSpeedup, percentile, speedup, summarize, tCritical95 } from './stats.ts';

describe('summarize', () => {
  it('computes mean, sd, sem, percentiles and ops/s from samples', () => {
    const s = summarize([4, 2, 8, 6]);
    expect(s.samples).toBe(4);
    expect(s.mean).toBe(5);
    expect(s.min).toBe(2);
    expect(s.max).toBe(8);
    expect(s.p50).toBe(5);
    expect(s.sd).toBeCloseTo(Math.sqrt(20 / 3), 12);
    expect(s.sem).toBeCloseTo(Math.sqrt(20 / 3) / 2, 12);
    expect(s.rme).toBeCloseTo((100 * s.sem * 3.182) / 5, 9);
    expect(s.opsPerSec).toBe(200);
  });

  it('gives zero spread for a single sample', () => {
    const s = summarize([3]);
    expect(s).toMatchObject({ mean: 3, sd: 0, sem: 0, rme: 0, p50: 3, p99: 3 });
  });

  it('rejects an empty sample set', () => {
    expect(() => summarize([])).toThrow(RangeError);
  });

  it('interpolates percentiles linearly', () => {
    expect(percentile([0, 10], 50)).toBe(5);
    expect(percentile([0, 10, 20, 30, 40], 99)).toBeCloseTo(39.6, 12);
  });

  it('uses Student t for small samples and tends to 1.96', () => {
    expect(tCritical95(1)).toBe(12.706);
    expect(tCritical95(10)).toBe(2.228);
    expect(tCritical95(10_000)).toBeCloseTo(1.96, 3);
  });
});

describe('speedup', () => {
  it('is baseline mean / variant mean with relative errors added in quadrature', () => {
    const r = speedup({ mean: 10, sem: 0.3 }, { mean: 2, sem: 0.08 });
    expect(r.value).toBe(5);
    expect(r.error).toBeCloseTo(5 * Math.sqrt(0.03 ** 2 + 0.04 ** 2), 12);
  });

  it('is exactly 1 for the baseline against itself', () => {
    expect(speedup({ mean: 3, sem: 0 }, { mean: 3, sem: 0 })).toEqual({ value: 1, error: 0 });
  });

  it('phrases ratios below 1 as "slower" with the inverse factor', () => {
    const d = describeSpeedup({ value: 0.5, error: 0.05 });
    expect(d.direction).toBe('slower');
    expect(d.factor).toBe(2);
    expect(d.error).toBeCloseTo(0.2, 12);
    expect(describeSpeedup({ value: 3, error: 0.1 }).direction).toBe('faster');
  });
});

describe('compareMeans', () => {
  it('flags a slowdown beyond 2 standard errors and 5% as a regression', () => {
    const c = compareMeans({ mean: 10, sem: 0.1 }, { mean: 12, sem: 0.1 });
    expect(c.verdict).toBe('regression');
    expect(c.change).toBeCloseTo(0.2, 12);
    expect(c.z).toBeCloseTo(2 / Math.hypot(0.1, 0.1), 9);
  });

  it('does not flag a large change hidden in noise', () => {
    expect(compareMeans({ mean: 10, sem: 2 }, { mean: 12, sem: 2 }).verdict).toBe('unchanged');
  });

  it('does not flag a precise but tiny change (under 5%)', () => {
    expect(compareMeans({ mean: 10, sem: 0.001 }, { mean: 10.2, sem: 0.001 }).verdict).toBe('unchanged');
  });

  it('reports a speed-up as an improvement', () => {
    expect(compareMeans({ mean: 10, sem: 0.1 }, { mean: 5, sem: 0.1 }).verdict).toBe('improvement');
  });

  it('honours custom thresholds', () => {
    expect(compareMeans({ mean: 10, sem: 0.1 }, { mean: 10.3, sem: 0.1 }, { minChange: 0.01 }).verdict).toBe('regression');
  });
});
