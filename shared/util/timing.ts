/** Small timing helpers for a lesson's `extras` (curves and figures outside the tinybench table). */
import { performance } from 'node:perf_hooks';

/** Median wall time in ms of `call(i)` for i = 0 … reps − 1, after `warmup` untimed calls. */
export function medianMs(call: (i: number) => unknown, reps: number, warmup = 0): number {
  for (let i = 0; i < warmup; i++) call(i);
  const t: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    call(i);
    t.push(performance.now() - t0);
  }
  return medianOf(t);
}

/** The same for an async call: each call is awaited before the next starts. */
export async function medianMsAsync(call: (i: number) => Promise<unknown>, reps: number, warmup = 0): Promise<number> {
  for (let i = 0; i < warmup; i++) await call(i);
  const t: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await call(i);
    t.push(performance.now() - t0);
  }
  return medianOf(t);
}

/** The upper median (the element at n/2 of the sorted times), as the lessons have always reported it. */
function medianOf(t: number[]): number {
  t.sort((a, b) => a - b);
  return t[t.length >> 1];
}
