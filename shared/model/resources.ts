/**
 * How many sessions and intra-op threads to run a model with, from the cores and the load (lesson
 * t3/10-dynamic-resources).
 *
 * onnxruntime's default intra-op thread count is the machine's cores, per session. A pool of N sessions in N worker
 * threads left at the default runs N × cores threads on cores cores: oversubscribed, and onnxruntime's pool threads
 * spin while they wait for work, so the extra threads take CPU from the ones doing it.
 *
 * The plan only means something if the sessions really run at once. In onnxruntime-node 1.30 `session.run` is NOT
 * run on libuv's thread pool: its backend calls the native run synchronously on the JavaScript thread, inside a
 * `setImmediate` (node_modules/onnxruntime-node/dist/backend.js). Sessions in one thread therefore run one after
 * another and block its event loop while they do; N concurrent sessions need N worker threads
 * (shared/model/session-worker.ts), which is how lesson 10's pool opens them.
 *
 * The planner keeps sessions × intra-op threads ≤ cores and spends the cores where they pay:
 *
 *   - **across requests** first: independent runs on separate sessions scale almost linearly, while the threads of one
 *     run synchronise at every operator, which costs most when the run is small. So with `concurrency` requests in
 *     flight: sessions = min(concurrency, cores), each with cores / sessions threads;
 *   - **inside a run** when the batch is big (≥ `wideBatch` texts): a big batch splits well across threads, and every
 *     session holds its own copy of the weights (90 MB for the MiniLM shape), so sessions are capped at cores /
 *     `wideThreads`, each at least that wide. One request of a big batch → one session with every core.
 *
 * `interOpThreads` is always 1: the sessions run in sequential execution mode (the encoder's graph is a chain; the
 * inter-op pool would only add threads).
 *
 * `AdaptivePlanner` re-plans from the observed queue (requests in flight + waiting): it smooths the observations and
 * changes the plan only when the new plan has held for `patience` observations in a row, so one burst does not make
 * the pool reopen its sessions.
 *
 *     planResources({ cores: 8, concurrency: 16, batch: 4 })  // { sessions: 8, intraOpThreads: 1, interOpThreads: 1, … }
 *     planResources({ cores: 8, concurrency: 1, batch: 64 })  // { sessions: 1, intraOpThreads: 8, … }
 */
import os from 'node:os';
import { RagError } from '../errors.ts';

export interface PlanInput {
  /** Cores to use. Default `os.availableParallelism()`. */
  cores?: number;
  /** Requests expected in flight at once (≥ 1). */
  concurrency: number;
  /** Texts per request (≥ 1). */
  batch: number;
  /** Most sessions to open (memory: each holds the weights). Default: no cap beyond the cores. */
  maxSessions?: number;
  /** A batch of at least this many texts counts as big. Default 32. */
  wideBatch?: number;
  /** Threads each session gets at least when batches are big. Default 4. */
  wideThreads?: number;
}

export interface ResourcePlan {
  sessions: number;
  intraOpThreads: number;
  interOpThreads: number;
  /** The cores the plan was made for: sessions × intraOpThreads ≤ cores. */
  cores: number;
  /** One line on why. */
  why: string;
}

function positiveInt(name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new RagError('INVALID_INPUT', `planResources: ${name} must be an integer ≥ 1, got ${JSON.stringify(v)}`);
  return v;
}

/** The machine's cores as Node sees them (cgroup limits included from Node 18.14). */
export function availableCores(): number {
  return typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
}

export function planResources(input: PlanInput): ResourcePlan {
  if (input === null || typeof input !== 'object') throw new RagError('INVALID_INPUT', 'planResources: expected { cores?, concurrency, batch }');
  const cores = positiveInt('cores', input.cores ?? availableCores());
  const concurrency = positiveInt('concurrency', input.concurrency);
  const batch = positiveInt('batch', input.batch);
  const maxSessions = positiveInt('maxSessions', input.maxSessions ?? cores);
  const wideBatch = positiveInt('wideBatch', input.wideBatch ?? 32);
  const wideThreads = positiveInt('wideThreads', input.wideThreads ?? 4);
  let sessions = Math.min(concurrency, cores, maxSessions);
  let why = `${concurrency} request(s) in flight on ${cores} core(s): one session per request up to the cores`;
  if (batch >= wideBatch) {
    const cap = Math.max(1, Math.floor(cores / wideThreads));
    if (cap < sessions) {
      sessions = cap;
      why = `batches of ${batch} texts split well across threads: sessions capped at ${cores} cores / ${wideThreads} threads`;
    }
  }
  if (sessions === 1) why = concurrency === 1 ? `one request at a time: one session with all ${cores} core(s)` : `${why} (capped at 1 session)`;
  const intraOpThreads = Math.max(1, Math.floor(cores / sessions));
  return { sessions, intraOpThreads, interOpThreads: 1, cores, why: `${sessions} session(s) × ${intraOpThreads} thread(s): ${why}` };
}

export interface AdaptiveOptions extends Omit<PlanInput, 'concurrency'> {
  /** Concurrency assumed before the first observation. Default 1. */
  initialConcurrency?: number;
  /** Weight of the newest observation in the moving average (0 < alpha ≤ 1). Default 0.5. */
  alpha?: number;
  /** Observations in a row a different plan must hold before it is adopted. Default 3. */
  patience?: number;
}

/**
 * Re-plans from the queue length a pool observes (requests in flight + waiting, sampled e.g. at every request's
 * arrival). `observe` returns the new plan when it changed, else undefined.
 */
export class AdaptivePlanner {
  private estimate: number;
  private pending: { key: string; count: number } | undefined;
  private current: ResourcePlan;
  private readonly alpha: number;
  private readonly patience: number;

  constructor(private readonly opts: AdaptiveOptions) {
    this.alpha = opts.alpha ?? 0.5;
    if (!(this.alpha > 0 && this.alpha <= 1)) throw new RagError('INVALID_INPUT', `AdaptivePlanner: alpha must be in (0, 1], got ${opts.alpha}`);
    this.patience = positiveInt('patience', opts.patience ?? 3);
    this.estimate = positiveInt('initialConcurrency', opts.initialConcurrency ?? 1);
    this.current = this.planFor(this.estimate);
  }

  get plan(): ResourcePlan {
    return this.current;
  }

  /** The smoothed queue length. */
  get concurrency(): number {
    return this.estimate;
  }

  observe(queueLength: number): ResourcePlan | undefined {
    if (typeof queueLength !== 'number' || !Number.isFinite(queueLength) || queueLength < 0) {
      throw new RagError('INVALID_INPUT', `AdaptivePlanner.observe: queue length must be a number ≥ 0, got ${JSON.stringify(queueLength)}`);
    }
    this.estimate = this.alpha * queueLength + (1 - this.alpha) * this.estimate;
    const next = this.planFor(this.estimate);
    const key = `${next.sessions}x${next.intraOpThreads}`;
    if (key === `${this.current.sessions}x${this.current.intraOpThreads}`) {
      this.pending = undefined;
      return undefined;
    }
    this.pending = this.pending?.key === key ? { key, count: this.pending.count + 1 } : { key, count: 1 };
    if (this.pending.count < this.patience) return undefined;
    this.pending = undefined;
    this.current = next;
    return next;
  }

  private planFor(concurrency: number): ResourcePlan {
    return planResources({ ...this.opts, concurrency: Math.max(1, Math.round(concurrency)) });
  }
}
