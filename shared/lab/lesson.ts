/**
 * How a lesson describes itself to the lab runner.
 *
 * A lesson registers its variants (the baseline `before`, the optimised `after`, and any others) and a `setup` that
 * builds the inputs for a given size. The runner calls `setup` once per lesson, then benchmarks every variant on the
 * same inputs, interleaved, and reports each variant's ratio to the baseline measured in that same run.
 *
 * Example (abridged from `t1_performance_optimization/09-vector-math/vector-math.bench.ts`):
 *
 *     export default defineLesson({
 *       id: 't1/09-vector-math',
 *       title: 'Vector math: top-k cosine, number[][] vs one Float32Array',
 *       workload: 'one top-10 cosine query against n seeded gaussian vectors',
 *       sizes: { quick: { n: 5_000, dim: 100 }, full: { n: 100_000, dim: 100 } },
 *       setup: (size) => makeInputs(size),
 *       baseline: 'before',
 *       headline: { name: 'time per query', unit: 'ms', better: 'lower' },   // the mean time of one call
 *       variants: {
 *         before: (input) => before.search(input.naive, input.query, 10),
 *         after: (input) => after.search(input.matrix, input.query, 10),
 *       },
 *       exercise: (input) => input.exercise!.search(input.exerciseMatrix!, input.query, 10),
 *     });
 *
 * Every lesson also declares its `headline` (the figure it is about) and, when it can measure the learner's code, an
 * `exercise` hook: `npm run t1 -- --only 09-vector-math --impl exercise` then adds an "exercise" row.
 *
 * Registration is by location: the chapter runner (`npm run tN`, shared/lab/chapter.ts) imports the default export
 * of the one `*.bench.ts` in every `tN_<chapter>/NN-<lesson>/` folder. The folder name is the lesson id
 * (`t1/09-vector-math`); keep `id` equal to it (the runner uses the folder id and warns on a mismatch).
 * Results: `reports/<run-id>/results.json` (shape in shared/lab/results.ts), then `npm run report`.
 */

/** Named input sizes. `quick` keeps the whole lab within a few minutes on 2 cores (CI); `full` is realistic. */
export interface LessonSizes<S> {
  quick: S;
  full: S;
}

/** One variant: a function of the prepared input. It may be sync or async; the runner awaits promises. */
export type VariantFn<I> = (input: I) => unknown | Promise<unknown>;

/** A point on a curve a lesson declares, e.g. recall (y) against queries per second (x) for one efSearch value. */
export interface CurvePoint {
  x: number;
  y: number;
  /** Which series the point belongs to (e.g. 'hnswlib', 'usearch'). */
  series: string;
  /** Free label drawn next to the point (e.g. 'ef=64'). */
  label?: string;
}

/** A curve the report draws for this lesson (in addition to the standard speed-up and latency charts). */
export interface Curve {
  id: string;
  title: string;
  xLabel: string;
  yLabel: string;
  /** Draw x on a log scale. Default false. */
  xLog?: boolean;
  points: CurvePoint[];
}

/** How a figure is derived from its samples. */
export type Stat = 'mean' | 'median' | 'p90' | 'p99' | 'max' | 'min';

/** Extra figures a lesson measured itself (throughput of a pipeline, event-loop p99, recall...). */
export interface Metric {
  name: string;
  value: number;
  /** 'ms', 'bytes', 'req/s', 'chunks', '×', ... (`bytes` and `ms` are printed in a fitting unit). */
  unit: string;
  /** Which variant the figure belongs to, if any. */
  variant?: string;
  /** Human note shown next to the figure. */
  note?: string;
  /**
   * The observations behind `value` (repeated trials, or the raw latencies a p99 was taken from), so the report can
   * show its spread. Build such a metric with `measured()` (shared/lab/metric.ts), which fills `value` and `error`.
   */
  samples?: number[];
  /** How `value` derives from `samples`. Default 'mean'. */
  stat?: Stat;
  /** One standard error of `value`: s.e.m. for a mean, a seeded bootstrap for the other stats. */
  error?: number;
  /** Number of observations (kept when `samples` is too long to store). */
  n?: number;
}

/**
 * The figure a lesson is about, so every table, chart and README leads with it instead of the mean time of one call.
 * A lesson on event-loop blocking is judged by `/healthz` p99 while busy, a queue lesson by API p99, a pipeline by
 * chunks in flight.
 *
 *     headline: { name: '/healthz p99 while /search runs', unit: 'ms', better: 'lower', metric: '/healthz p99 while busy' }
 */
export interface Headline {
  /** What a reader sees: '/healthz p99 while /search runs'. */
  name: string;
  unit: string;
  better: 'lower' | 'higher';
  /**
   * Where each variant's value comes from: a metric of this name that `extras` reports once per variant (made with
   * `measured()`, so it has a spread). Leave it out to use the variant's mean time per call from the tinybench table
   * (then `unit` is 'ms' and `better` 'lower').
   */
  metric?: string;
}

/** What `extras` may add to a lesson's results: curves to draw and figures to print. */
export interface LessonExtras {
  curves?: Curve[];
  metrics?: Metric[];
}

export interface LessonOptions {
  /** Sample heap/RSS growth and GC pauses (PerformanceObserver 'gc') per variant. Default false. */
  memory?: boolean;
  /** Minimum time per variant per round, in ms. Default: quick 150, full 1000. */
  time?: number;
  /** Minimum iterations per variant per round. Default 10. */
  iterations?: number;
  /** Warm-up time per variant, in ms. Default: quick 50, full 250. */
  warmupTime?: number;
  /** Number of interleaved rounds (before, after, before, after...). Default: quick 2, full 4. */
  rounds?: number;
}

export interface LessonContext {
  mode: 'quick' | 'full';
  /** Print a progress line (goes to stderr, so `--json` output on stdout stays clean). */
  log: (msg: string) => void;
  /**
   * The learner's exercise.ts, loaded when the lesson runs with `--impl exercise` (undefined otherwise). `setup`
   * builds the exercise's state from it exactly as it builds after.ts's, the lesson's `exercise` hook calls it, and
   * `extras` measure its headline figure beside the others (variant 'exercise'). It has after.ts's interface:
   * `const ex = ctx.exercise as typeof after | undefined`.
   */
  exercise?: unknown;
  /**
   * `--model <dir>` (absolute): a folder with `model.onnx` and `tokenizer.json` the learner wants measured instead
   * of the project's seeded encoder. Lessons that run an encoder take it through `lessonEncoder`
   * (shared/model/lesson-model.ts); a lesson that cannot (it rewrites the seeded encoder's named weights) says so
   * in a log line and runs its own model.
   */
  model?: string;
}

export interface LessonDefinition<S = unknown, I = unknown> {
  /** '<chapter>/<NN-lesson>', e.g. 't1/09-vector-math'. */
  id: string;
  title: string;
  /** One line on the workload, printed before the numbers (lru-cache style: explain the workload first). */
  workload?: string;
  sizes: LessonSizes<S>;
  /** Build inputs once for the size; shared by every variant. */
  setup: (size: S, ctx: LessonContext) => I | Promise<I>;
  /** Release resources (servers, connections) after the lesson ran. */
  teardown?: (input: I) => void | Promise<void>;
  /** Name of the variant ratios are computed against. Default 'before'. */
  baseline?: string;
  variants: Record<string, VariantFn<I>>;
  /** The figure the lesson is about; see `Headline`. */
  headline: Headline;
  /**
   * Where variants pair up (a pooled client against its own naive client), each variant's own baseline:
   * `{ 'http: keep-alive Pool': 'http: new connection per request', ... }`. A variant named as some pair's baseline is
   * a baseline itself; other unlisted variants compare with `baseline`. `exercise` compares like `after` unless the
   * pairs name it (`exercise: 'http: new connection per request'`). The time-per-call ratios follow the pairs too.
   */
  pairs?: Record<string, string>;
  /**
   * The variants "at a glance" shows against their baseline. Default: the keys of `pairs` when given, else `after`
   * (or the first variant named `after (…)`).
   */
  featured?: string[];
  /**
   * How one call of the learner's exercise.ts is measured, run only with `--impl exercise`. It gets the same input as
   * every variant; `setup` put the exercise's state into it from `ctx.exercise`. Its row compares with the baseline
   * of `after` (see `pairs`), and its headline figure comes from `extras` like the others' (variant 'exercise').
   */
  exercise?: VariantFn<I>;
  options?: LessonOptions;
  /**
   * Measurements that do not fit one function call per iteration (curves, pipeline throughput, event-loop delay).
   * Runs after the variants, on the same input.
   */
  extras?: (input: I, ctx: LessonContext) => LessonExtras | Promise<LessonExtras>;
  /**
   * Return a reason to skip (e.g. 'Redis unreachable at redis://127.0.0.1:6379: start it with redis-server') or
   * undefined to run. A skipped lesson is recorded as skipped, never as failed.
   */
  skip?: () => string | undefined | Promise<string | undefined>;
}

/** The variant name the learner's exercise.ts is measured under. */
export const EXERCISE = 'exercise';

/** Identity helper that gives type inference for a lesson's size and input types. */
export function defineLesson<S, I>(def: LessonDefinition<S, I>): LessonDefinition<S, I> {
  return def;
}
