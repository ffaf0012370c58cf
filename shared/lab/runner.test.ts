import { LATENCY } from './headline.ts';
import { describe, expect, it } from 'vitest';
import { defineLesson } from './lesson.ts';
import { runLesson } from './runner.ts';

const fast = { rounds: 3, time: 2, warmupTime: 1, iterations: 3 };
const quiet = () => {};

describe('runLesson', () => {
  it('measures every variant on the same input built once, with ratios to the baseline', async () => {
    let setups = 0;
    const seen = new Set<unknown>();
    const lesson = defineLesson({
      id: 't9/01-demo',
      title: 'demo',
      headline: LATENCY,
      sizes: { quick: { n: 10 }, full: { n: 1000 } },
      setup: (size) => {
        setups++;
        return { data: Array.from({ length: size.n }, (_, i) => i) };
      },
      variants: {
        before: (input) => (seen.add(input), input.data.reduce((a, b) => a + b, 0)),
        after: async (input) => (seen.add(input), input.data.length),
      },
    });
    const r = await runLesson(lesson, { mode: 'quick', log: quiet, overrides: fast });
    expect(setups).toBe(1);
    expect(seen.size).toBe(1);
    expect(r.status).toBe('ok');
    expect(r.size).toEqual({ n: 10 });
    expect(r.variants.map((v) => v.name)).toEqual(['before', 'after']);
    for (const v of r.variants) {
      expect(v.status).toBe('ok');
      expect(v.roundMeans).toHaveLength(3);
      expect(v.stats!.samples).toBeGreaterThanOrEqual(9);
      expect(v.ratio!.value).toBeGreaterThan(0);
    }
    expect(r.variants[0].ratio).toEqual({ value: 1, error: r.variants[0].ratio!.error });
  });

  it('interleaves the variants, rotating the order each round', async () => {
    const lines: string[] = [];
    const noop = () => 0;
    await runLesson(
      defineLesson({ id: 't9/02', title: 't', headline: LATENCY, sizes: { quick: 1, full: 1 }, setup: () => 0, variants: { before: noop, b: noop, c: noop } }),
      { mode: 'quick', log: (m) => lines.push(m), overrides: fast },
    );
    expect(lines.filter((l) => l.includes('round'))).toEqual([
      't9/02: round 1/3 (before, b, c)',
      't9/02: round 2/3 (b, c, before)',
      't9/02: round 3/3 (c, before, b)',
    ]);
  });

  it('labels a throwing variant failed with its message and keeps the others', async () => {
    const r = await runLesson(
      defineLesson({
        id: 't9/03',
        title: 't',
        headline: LATENCY,
        sizes: { quick: 1, full: 1 },
        setup: () => 0,
        variants: {
          before: () => 1,
          after: () => {
            throw new Error('not implemented');
          },
        },
      }),
      { mode: 'quick', log: quiet, overrides: fast },
    );
    expect(r.status).toBe('failed');
    expect(r.variants.find((v) => v.name === 'after')).toEqual({ name: 'after', status: 'failed', error: 'not implemented' });
    expect(r.variants.find((v) => v.name === 'before')!.status).toBe('ok');
  });

  it('records a skipped lesson with its reason and never calls setup', async () => {
    let called = false;
    const r = await runLesson(
      defineLesson({
        id: 't9/04',
        title: 't',
        headline: LATENCY,
        sizes: { quick: 1, full: 1 },
        setup: () => (called = true),
        variants: { before: () => 0 },
        skip: () => 'Redis unreachable',
      }),
      { mode: 'quick', log: quiet },
    );
    expect(r).toMatchObject({ status: 'skipped', reason: 'Redis unreachable', variants: [] });
    expect(called).toBe(false);
  });

  it('fails the lesson when setup throws or the baseline is missing', async () => {
    const base = { id: 't9/05', title: 't', headline: LATENCY, sizes: { quick: 1, full: 1 }, variants: { after: () => 0 } };
    const noBaseline = await runLesson(defineLesson({ ...base, setup: () => 0 }), { mode: 'quick', log: quiet });
    expect(noBaseline.reason).toMatch(/baseline variant "before" is not one of: after/);
    const badSetup = await runLesson(
      defineLesson({
        ...base,
        baseline: 'after',
        setup: () => {
          throw new Error('no data');
        },
      }),
      { mode: 'quick', log: quiet },
    );
    expect(badSetup).toMatchObject({ status: 'failed', reason: 'setup failed: no data' });
  });

  it('collects extras and memory figures, and tears down', async () => {
    let torn = false;
    const r = await runLesson(
      defineLesson({
        id: 't9/06',
        title: 't',
        headline: LATENCY,
        sizes: { quick: 1, full: 1 },
        setup: () => ({ a: 1 }),
        teardown: () => void (torn = true),
        variants: { before: () => new Array(1000).fill(0) },
        options: { memory: true },
        extras: () => ({ metrics: [{ name: 'm', value: 1, unit: 'x' }], curves: [] }),
      }),
      { mode: 'quick', log: quiet, overrides: fast },
    );
    expect(torn).toBe(true);
    expect(r.metrics).toEqual([{ name: 'm', value: 1, unit: 'x' }]);
    const mem = r.variants[0].memory!;
    expect(Object.keys(mem).sort()).toEqual(['gcCount', 'gcPauseMs', 'heapDelta', 'rssDelta']);
    expect(mem.gcCount).toBeGreaterThanOrEqual(0);
  });
});
