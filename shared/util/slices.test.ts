import { performance } from 'node:perf_hooks';
import { describe, expect, it } from 'vitest';
import { TimeSlicer } from './slices.ts';

const spin = (ms: number) => {
  const t = performance.now();
  while (performance.now() - t < ms);
};

describe('TimeSlicer', () => {
  it('lets timers and I/O run between slices: a callback scheduled during the work runs before it ends', async () => {
    const slices = new TimeSlicer(0);
    const order: string[] = [];
    setImmediate(() => order.push('other'));
    const work = (async () => {
      for (let i = 0; i < 3; i++) {
        order.push(`slice ${i}`);
        await slices.check();
      }
    })();
    await work;
    expect(order.indexOf('other')).toBeGreaterThan(0);
    expect(order.indexOf('other')).toBeLessThan(order.length - 1);
    expect(slices.pauses).toBe(3);
  });

  it('yields time in proportion while other work runs, and none when nothing else does', async () => {
    const idle = new TimeSlicer(0, { share: 0.25, busy: () => false });
    spin(2);
    await idle.pause();
    expect(idle.yieldedMs).toBe(0);

    const busy = new TimeSlicer(0, { share: 0.25, busy: () => true });
    const t = performance.now();
    spin(2);
    const ran = performance.now() - t;
    await busy.pause();
    // a slice of `ran` ms at a share of 1/4 waits at least 3 × ran (a lower bound: never timed from above)
    expect(busy.yieldedMs).toBeGreaterThanOrEqual(3 * ran - 0.01);
  });

  it('drives a generator to its result, pausing only when a slice is due', async () => {
    function* steps(): Generator<void, number, void> {
      let sum = 0;
      for (let i = 1; i <= 10; i++) {
        sum += i;
        yield;
      }
      return sum;
    }
    const never = new TimeSlicer(1e9);
    expect(await never.drive(steps())).toBe(55);
    expect(never.pauses).toBe(0);
    const always = new TimeSlicer(0);
    expect(await always.drive(steps())).toBe(55);
    expect(always.pauses).toBe(10);
  });
});
