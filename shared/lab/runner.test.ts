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
        // about 10 MB of small objects per call: the young generation must be collected while it runs
        variants: { before: () => Array.from({ length: 250_000 }, (_, i) => ({ i })) },
        options: { memory: true },
        extras: () => ({ metrics: [{ name: 'm', value: 1, unit: 'x' }], curves: [] }),
      }),
      { mode: 'quick', log: quiet, overrides: fast },
    );
    expect(torn).toBe(true);
    expect(r.metrics).toEqual([{ name: 'm', value: 1, unit: 'x' }]);
    const mem = r.variants[0].memory!;
    expect(Object.keys(mem).sort()).toEqual(['gcCount', 'gcPauseMs', 'heapDelta', 'rssDelta']);
    expect(mem.gcCount).toBeGreaterThan(0);
    expect(mem.gcPauseMs).toBeGreaterThan(0);
  });

  it('measures the exercise beside the others when asked, without failing the lesson when it throws', async () => {
    const def = defineLesson({
      id: 't9/07',
      title: 't',
      headline: LATENCY,
      sizes: { quick: 1, full: 1 },
      setup: (_s, ctx) => ({ ex: ctx.exercise as { run: () => number } | undefined }),
      variants: { before: () => 1, after: () => 2 },
      exercise: (input) => input.ex!.run(),
    });
    const plain = await runLesson(def, { mode: 'quick', log: quiet, overrides: fast });
    expect(plain.variants.map((v) => v.name)).toEqual(['before', 'after']);

    const mine = await runLesson(def, { mode: 'quick', log: quiet, overrides: fast, exercise: { module: { run: () => 3 } } });
    expect(mine.variants.map((v) => [v.name, v.status])).toEqual([['before', 'ok'], ['after', 'ok'], ['exercise', 'ok']]);
    expect(mine.headline!.featured).toEqual(['after', 'exercise']);
    expect(mine.headline!.rows.find((r) => r.variant === 'exercise')?.against).toBe('before');

    const todo = await runLesson(def, {
      mode: 'quick',
      log: quiet,
      overrides: fast,
      exercise: { module: { run: () => { throw new Error('not written yet'); } } },
    });
    expect(todo.status).toBe('ok');
    expect(todo.variants.find((v) => v.name === 'exercise')).toMatchObject({ status: 'failed', error: 'not written yet' });

    const broken = await runLesson(def, { mode: 'quick', log: quiet, overrides: fast, exercise: { error: 'could not load exercise.ts: Unexpected token' } });
    expect(broken.status).toBe('ok');
    expect(broken.variants.find((v) => v.name === 'exercise')).toMatchObject({ status: 'failed', error: 'could not load exercise.ts: Unexpected token' });
  });

  it('never runs an async variant alongside itself (no unawaited probing call)', async () => {
    let inFlight = 0;
    let most = 0;
    const slow = async () => {
      most = Math.max(most, ++inFlight);
      await new Promise((r) => setTimeout(r, 1));
      inFlight--;
    };
    const r = await runLesson(
      defineLesson({ id: 't9/08', title: 't', headline: LATENCY, sizes: { quick: 1, full: 1 }, setup: () => 0, variants: { before: slow, after: slow } }),
      { mode: 'quick', log: quiet, overrides: fast },
    );
    expect(r.status).toBe('ok');
    expect(most, 'calls of one variant overlapped').toBe(1);
  });

  it('pools a round of more samples than a function call can take as arguments', async () => {
    // a do-nothing variant for 300 ms: far more than the ~120k arguments a spread into push() can take
    const r = await runLesson(
      defineLesson({ id: 't9/09', title: 't', headline: LATENCY, sizes: { quick: 1, full: 1 }, setup: () => 0, variants: { before: () => 0 } }),
      { mode: 'quick', log: quiet, overrides: { ...fast, rounds: 1, time: 300 } },
    );
    expect(r.variants[0]).toMatchObject({ status: 'ok' });
    expect(r.variants[0].stats!.samples).toBeGreaterThan(200_000);
  });
});
