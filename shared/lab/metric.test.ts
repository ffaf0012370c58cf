import { describe, expect, it } from 'vitest';
import { measured, MAX_STORED_SAMPLES, statWithError } from './metric.ts';
import { mulberry32 } from '../util/random.ts';

describe('statWithError', () => {
  it('gives the mean with its standard error', () => {
    const { value, error } = statWithError([1, 2, 3, 4, 5]);
    expect(value).toBe(3);
    expect(error).toBeCloseTo(Math.sqrt(2.5) / Math.sqrt(5), 12);
  });

  it('gives a p99 with a bootstrap error that is the same on every run and grows with the spread', () => {
    const rand = mulberry32(1);
    const base = Array.from({ length: 300 }, () => rand());
    const tight = base.map((u) => 10 + u * 0.1);
    const wide = base.map((u) => 10 + u * 10);
    const a = statWithError(tight, 'p99');
    expect(a).toEqual(statWithError(tight, 'p99'));
    expect(a.value).toBeGreaterThan(10.09);
    expect(a.error!).toBeGreaterThan(0);
    expect(statWithError(wide, 'p99').error!).toBeCloseTo(100 * a.error!, 6);
  });

  it('claims no spread for a single observation', () => {
    expect(statWithError([7], 'p99')).toEqual({ value: 7 });
    expect(() => statWithError([])).toThrow(RangeError);
  });
});

describe('measured', () => {
  it('keeps a few samples and summarises many', () => {
    const few = measured('x', 'ms', [1, 2, 3], { variant: 'after' });
    expect(few).toMatchObject({ name: 'x', unit: 'ms', variant: 'after', value: 2, stat: 'mean', n: 3, samples: [1, 2, 3] });
    const many = measured('x', 'ms', Array.from({ length: MAX_STORED_SAMPLES + 1 }, (_, i) => i), { stat: 'max' });
    expect(many.samples).toBeUndefined();
    expect(many).toMatchObject({ value: MAX_STORED_SAMPLES, n: MAX_STORED_SAMPLES + 1 });
  });
});
