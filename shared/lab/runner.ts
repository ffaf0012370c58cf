/**
 * Runs one lesson: setup once, warm every variant, then measure the variants in interleaved rounds on the same input
 * and pool each variant's samples across rounds. Ratios to the baseline come from this one run.
 *
 * Round order rotates (round 0: A B C, round 1: B C A, ...) so no variant always runs right after the same neighbour;
 * with two variants that is before, after, after, before, before, after...
 */
import { Bench } from 'tinybench';
import { againstOf, computeHeadline } from './headline.ts';
import { EXERCISE, type LessonContext, type LessonDefinition, type VariantFn } from './lesson.ts';
import { GcRecorder } from './memory.ts';
import type { LessonResult, VariantResult } from './results.ts';
import { speedup, summarize } from '../util/stats.ts';

export type Mode = 'quick' | 'full';

/** Runner defaults per mode; a lesson's `options` override them. */
export const DEFAULTS = {
  quick: { time: 150, warmupTime: 50, rounds: 2, iterations: 10 },
  full: { time: 1000, warmupTime: 250, rounds: 4, iterations: 10 },
} as const;

export interface RunLessonOptions {
  mode: Mode;
  /** Progress lines (stderr). */
  log?: (msg: string) => void;
  /** Override the lesson's round count / time (tests use this to stay fast). */
  overrides?: Partial<LessonResult['options']>;
  /**
   * Measure the learner's exercise.ts too (`--impl exercise`): the loaded module, or why it could not be loaded.
   * Its row is named 'exercise'; its failure is reported on the row and does not fail the lesson.
   */
  exercise?: { module: unknown } | { error: string };
  /** `--model <dir>`: the learner's own model folder, handed to the lesson as `ctx.model` (T3). */
  model?: string;
}

/** Keeps variant results alive so V8 cannot drop a call whose result is unused. */
let sink: unknown;
export function blackhole(): unknown {
  return sink;
}

function message(err: unknown): string {
  if (err instanceof Error) return err.message || err.name;
  return String(err);
}

function chapterOf(id: string): string {
  return id.split('/')[0] ?? id;
}

/**
 * Measure one variant for one round; returns its samples (ms) or throws the variant's error. `isAsync` is passed to
 * tinybench, which would otherwise call the function once, unawaited, to find out (overlapping the first timed call).
 */
async function measure(name: string, fn: () => unknown, time: number, iterations: number, isAsync: boolean): Promise<number[]> {
  const bench = new Bench({ time, iterations, warmup: false, retainSamples: true, throws: false });
  bench.add(
    name,
    isAsync
      ? async () => {
          sink = await fn();
        }
      : () => {
          sink = fn();
        },
    { async: isAsync },
  );
  const [task] = await bench.run();
  const res = task.result;
  if (res.state === 'errored') throw res.error;
  if (res.state !== 'completed' || !res.latency.samples) throw new Error(`benchmark ended in state ${res.state}`);
  return [...res.latency.samples];
}

export async function runLesson<S, I>(def: LessonDefinition<S, I>, opts: RunLessonOptions): Promise<LessonResult> {
  const log = opts.log ?? ((m: string) => process.stderr.write(`${m}\n`));
  const mode = opts.mode;
  const exerciseModule = opts.exercise && 'module' in opts.exercise ? opts.exercise.module : undefined;
  const ctx: LessonContext = {
    mode,
    log,
    ...(exerciseModule !== undefined ? { exercise: exerciseModule } : {}),
    ...(opts.model !== undefined ? { model: opts.model } : {}),
  };
  const startedAt = new Date();
  const t0 = performance.now();
  const d = DEFAULTS[mode];
  const options = {
    rounds: def.options?.rounds ?? d.rounds,
    time: def.options?.time ?? d.time,
    warmupTime: def.options?.warmupTime ?? d.warmupTime,
    iterations: def.options?.iterations ?? d.iterations,
    memory: def.options?.memory ?? false,
    ...opts.overrides,
  };
  const baseline = def.baseline ?? 'before';
  const result: LessonResult = {
    id: def.id,
    chapter: chapterOf(def.id),
    title: def.title,
    ...(def.workload ? { workload: def.workload } : {}),
    status: 'ok',
    mode,
    size: def.sizes[mode],
    baseline,
    ...(def.pairs ? { pairs: def.pairs } : {}),
    options,
    variants: [],
    curves: [],
    metrics: [],
    startedAt: startedAt.toISOString(),
    durationMs: 0,
  };
  const finish = (): LessonResult => {
    result.durationMs = performance.now() - t0;
    return result;
  };

  if (def.skip) {
    const reason = await def.skip();
    if (reason) {
      log(`${def.id}: skipped (${reason})`);
      result.status = 'skipped';
      result.reason = reason;
      return finish();
    }
  }

  const variants: Record<string, VariantFn<I>> = { ...def.variants };
  /** Variants that failed before they could run (the exercise could not be loaded). */
  const preFailed = new Map<string, string>();
  if (opts.exercise) {
    if (!def.exercise) log(`${def.id}: this lesson does not measure an exercise.ts (no \`exercise\` in its bench)`);
    else if ('error' in opts.exercise) preFailed.set(EXERCISE, opts.exercise.error);
    else variants[EXERCISE] = def.exercise;
  }
  const names = Object.keys(variants);
  if (!names.includes(baseline)) {
    result.status = 'failed';
    result.reason = `baseline variant "${baseline}" is not one of: ${names.join(', ')}`;
    return finish();
  }

  log(`${def.id}: setup (${mode})`);
  let input: I;
  try {
    input = await def.setup(def.sizes[mode], ctx);
  } catch (err) {
    result.status = 'failed';
    result.reason = `setup failed: ${message(err)}`;
    return finish();
  }

  const gc = options.memory ? new GcRecorder() : undefined;
  try {
    const state = new Map<string, { samples: number[]; roundMeans: number[]; error?: string; mem: VariantResult['memory'][] }>();
    for (const n of names) state.set(n, { samples: [], roundMeans: [], mem: [] });
    for (const [n, error] of preFailed) state.set(n, { samples: [], roundMeans: [], mem: [], error });

    // Warm-up: every variant runs (results discarded) before any is measured, so JIT tiers settle for all of them.
    // Whether each variant returns a promise, from one awaited call (the first of its warm-up).
    const isAsync = new Map<string, boolean>();
    for (const n of names) {
      const fn = variants[n];
      log(`${def.id}: warm-up ${n}`);
      try {
        const first = fn(input);
        isAsync.set(n, first instanceof Promise);
        sink = await first;
        await measure(n, () => fn(input), options.warmupTime, Math.min(options.iterations, 5), isAsync.get(n)!);
      } catch (err) {
        state.get(n)!.error = message(err);
        log(`${def.id}: ${n} FAILED: ${message(err)}`);
      }
    }

    for (let round = 0; round < options.rounds; round++) {
      const order = names.map((_, i) => names[(i + round) % names.length]);
      log(`${def.id}: round ${round + 1}/${options.rounds} (${order.filter((n) => !state.get(n)!.error).join(', ')})`);
      for (const n of order) {
        const st = state.get(n)!;
        if (st.error) continue;
        const fn = variants[n];
        try {
          let samples: number[] = [];
          const work = async () => {
            samples = await measure(n, () => fn(input), options.time, options.iterations, isAsync.get(n) ?? false);
          };
          if (gc) {
            const w = await gc.measure(work);
            st.mem.push(w);
          } else {
            await work();
          }
          // a loop, not push(...samples): a fast variant yields 100k+ samples a round, past the argument limit
          for (const s of samples) st.samples.push(s);
          st.roundMeans.push(samples.reduce((a, b) => a + b, 0) / samples.length);
        } catch (err) {
          st.error = message(err);
          log(`${def.id}: ${n} FAILED: ${message(err)}`);
        }
      }
    }

    for (const n of [...names, ...preFailed.keys()]) {
      const st = state.get(n)!;
      if (st.error || st.samples.length === 0) {
        result.variants.push({ name: n, status: 'failed', error: st.error ?? 'no samples' });
        continue;
      }
      const v: VariantResult = { name: n, status: 'ok', stats: summarize(st.samples), roundMeans: st.roundMeans };
      if (gc && st.mem.length > 0) {
        const mems = st.mem as NonNullable<VariantResult['memory']>[];
        v.memory = {
          heapDelta: mems.reduce((a, m) => a + m.heapDelta, 0) / mems.length,
          rssDelta: mems.reduce((a, m) => a + m.rssDelta, 0) / mems.length,
          gcCount: mems.reduce((a, m) => a + m.gcCount, 0),
          gcPauseMs: mems.reduce((a, m) => a + m.gcPauseMs, 0),
        };
      }
      result.variants.push(v);
    }
    // Each variant's speed-up over its own baseline: its pair's where variants pair up, else the lesson's.
    for (const v of result.variants) {
      const against = againstOf({ baseline, ...(def.pairs ? { pairs: def.pairs } : {}) }, v.name) ?? v.name;
      const base = result.variants.find((x) => x.name === against);
      if (v.stats && base?.stats) v.ratio = speedup(base.stats, v.stats);
    }
    // The learner's exercise failing (a TODO, a bug) is its row's news, not the lesson's failure.
    const failed = result.variants.filter((v) => v.status === 'failed' && v.name !== EXERCISE);
    if (failed.length > 0) {
      result.status = 'failed';
      result.reason = `${failed.length} variant(s) failed: ${failed.map((v) => v.name).join(', ')}`;
    }

    if (def.extras) {
      log(`${def.id}: extras`);
      try {
        const extras = await def.extras(input, ctx);
        result.curves = extras.curves ?? [];
        result.metrics = extras.metrics ?? [];
      } catch (err) {
        result.status = 'failed';
        result.reason = [result.reason, `extras failed: ${message(err)}`].filter(Boolean).join('; ');
      }
    }

    const { result: headline, missing } = computeHeadline(
      { headline: def.headline, baseline, ...(def.pairs ? { pairs: def.pairs } : {}), ...(def.featured ? { featured: def.featured } : {}) },
      result.variants,
      result.metrics,
    );
    result.headline = headline;
    if (missing.length > 0 && result.status === 'ok') {
      log(`${def.id}: warning: extras reported no "${def.headline.metric}" for ${missing.join(', ')}`);
    }
  } finally {
    gc?.close();
    if (def.teardown) {
      try {
        await def.teardown(input);
      } catch (err) {
        result.status = 'failed';
        result.reason = [result.reason, `teardown failed: ${message(err)}`].filter(Boolean).join('; ');
      }
    }
  }
  return finish();
}
