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
 *       variants: {
 *         before: (input) => before.search(input.naive, input.query, 10),
 *         after: (input) => after.search(input.matrix, input.query, 10),
 *       },
 *     });
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

/** Extra figures a lesson measured itself (throughput of a pipeline, event-loop p99, recall...). */
export interface Metric {
  name: string;
  value: number;
  unit: string;
  /** Which variant the figure belongs to, if any. */
  variant?: string;
  /** Human note shown next to the figure. */
  note?: string;
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

/** Identity helper that gives type inference for a lesson's size and input types. */
export function defineLesson<S, I>(def: LessonDefinition<S, I>): LessonDefinition<S, I> {
  return def;
}
