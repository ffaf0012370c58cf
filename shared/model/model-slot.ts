/**
 * A model slot: the one place a server keeps its current model, swapped under load without failing a request.
 *
 * The slot holds the current model and its version id. A request takes a **lease** once, at its start
 * (`acquire()` or `use(fn)`), and runs to the end on the model of that lease, whatever happens to the slot meanwhile;
 * the lease also names the version, which is what the answer is tagged with and what caches key on (T3 lesson 09's
 * `embeddingCacheKey(version, text)`), so no answer mixes two models.
 *
 * `swap(load)`:
 *   1. waits for any swap already running (swaps are serialised: one load at a time, applied in call order);
 *   2. loads the new model beside the old one (`load()`); the old one keeps serving;
 *   3. warms it (`warm(model)`, `warmRuns` times: the first runs of an onnxruntime session allocate its arena and
 *      pick kernels, and are several times slower than the rest);
 *   4. replaces one reference: requests that start from now on lease the new model;
 *   5. retires the old one: its `release()` runs exactly once, when the last lease taken on it ends (at once if none
 *      is in flight), never before.
 * A failing load or warm-up changes nothing: the old model keeps serving, the new one is released (when `load`
 * returned one), and `swap` rejects with the error. A model is never reachable before its warm-up has finished.
 *
 *     const slot = await ModelSlot.create(() => loadModel('v1'), { warm: (m) => m.embed(['warm-up']) });
 *     // a request handler: one lease for the whole request
 *     const { version, value } = await slot.use(async (model, version) => model.embed(texts));
 *     // an admin route
 *     const report = await slot.swap(() => loadModel('v2'));   // { from: 'v1', to: 'v2', loadMs, warmMs, released }
 *     await report.released;                                   // v1's session freed (its last request ended)
 *
 * Memory: a swap holds two models while the new one loads and warms, and a retired model stays until its last
 * request ends (more than two only if swaps follow each other faster than requests finish).
 */
import { RagError } from '../errors.ts';

/** What a loader returns: the model, its version id, and how to free it. */
export interface LoadedModel<M> {
  readonly model: M;
  /** Identifies the weights (a cache keys on it): a new model needs a version different from the current one. */
  readonly version: string;
  /** Frees the model (e.g. `session.release()`). The slot calls it exactly once, after the model's last lease. */
  release(): void | Promise<void>;
}

export type ModelLoader<M> = () => Promise<LoadedModel<M>>;

export interface ModelSlotOptions<M> {
  /** One warm-up run on a freshly loaded model (e.g. an embed of a few typical texts). Default: none. */
  warm?: (model: M, version: string) => Promise<unknown>;
  /** How many times `warm` runs before the model serves. Default 3 (ignored without `warm`). */
  warmRuns?: number;
  /** Called when a retired model's `release()` throws or rejects (the swap has long succeeded). Default: ignore. */
  onReleaseError?: (err: unknown, version: string) => void;
}

/** A request's hold on one model: the model, its version, and `done()` when the request is over. */
export interface Lease<M> {
  readonly model: M;
  readonly version: string;
  /** Ends the lease (idempotent). The last `done()` on a retired model releases it. */
  done(): void;
}

export interface SwapReport {
  from: string;
  to: string;
  /** Time spent in `load()` and in the warm-up runs, ms. */
  loadMs: number;
  warmMs: number;
  /** Settles once the old model's `release()` has run (after its last in-flight request). */
  released: Promise<void>;
}

export interface ModelSlotStats {
  /** Swaps that replaced the model. */
  swaps: number;
  /** Swaps whose load or warm-up failed (the old model kept serving). */
  failedSwaps: number;
  /** Leases taken in total. */
  leases: number;
  /** Models released so far (retired ones and failed loads). */
  released: number;
}

interface Entry<M> {
  loaded: LoadedModel<M>;
  inFlight: number;
  retired: boolean;
  releasing: Promise<void> | undefined;
  onReleased: () => void;
  releasedPromise: Promise<void>;
}

export class ModelSlot<M> {
  private current: Entry<M>;
  private readonly warm: ModelSlotOptions<M>['warm'];
  private readonly warmRuns: number;
  private readonly onReleaseError: ModelSlotOptions<M>['onReleaseError'];
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;
  readonly stats: ModelSlotStats = { swaps: 0, failedSwaps: 0, leases: 0, released: 0 };

  /** A slot serving `initial` as it is (already warm, or not in need of it). Prefer `ModelSlot.create`. */
  constructor(initial: LoadedModel<M>, opts: ModelSlotOptions<M> = {}) {
    this.warm = opts.warm;
    this.warmRuns = opts.warmRuns ?? 3;
    if (!(Number.isInteger(this.warmRuns) && this.warmRuns >= 0)) throw new RagError('INVALID_INPUT', `ModelSlot: warmRuns must be a non-negative integer, got ${opts.warmRuns}`);
    this.onReleaseError = opts.onReleaseError;
    this.current = this.entry(initial);
  }

  /** Loads and warms the first model, then serves it. A failing load or warm-up rejects (and releases the model). */
  static async create<M>(load: ModelLoader<M>, opts: ModelSlotOptions<M> = {}): Promise<ModelSlot<M>> {
    const loaded = await load();
    const slot = new ModelSlot(loaded, opts);
    try {
      await slot.runWarmUp(loaded);
    } catch (err) {
      await loaded.release();
      throw err;
    }
    return slot;
  }

  /** The version requests starting now are served by. */
  get version(): string {
    return this.current.loaded.version;
  }

  /** Requests in flight on the current model. */
  get inFlight(): number {
    return this.current.inFlight;
  }

  /**
   * Takes a lease on the current model: read the slot once, at the start of a request, and use only the lease's
   * model and version until `done()`. Prefer `use`, which cannot forget `done()`.
   */
  acquire(): Lease<M> {
    if (this.closed) throw new RagError('UNAVAILABLE', 'ModelSlot: closed');
    const e = this.current;
    e.inFlight++;
    this.stats.leases++;
    let open = true;
    return {
      model: e.loaded.model,
      version: e.loaded.version,
      done: () => {
        if (!open) return;
        open = false;
        e.inFlight--;
        if (e.retired && e.inFlight === 0) this.releaseEntry(e);
      },
    };
  }

  /** Runs `fn` on one lease (the model and version of the moment it starts) and ends the lease however it ends. */
  async use<T>(fn: (model: M, version: string) => Promise<T> | T): Promise<{ version: string; value: T }> {
    const lease = this.acquire();
    try {
      return { version: lease.version, value: await fn(lease.model, lease.version) };
    } finally {
      lease.done();
    }
  }

  /**
   * Loads a new model beside the current one, warms it, then makes it current; the old one is released after its
   * last in-flight request. Serialised with other swaps. Rejects (the current model still serving) when the load or
   * the warm-up fails, or when the new version equals the one it would replace.
   */
  swap(load: ModelLoader<M>): Promise<SwapReport> {
    const run = this.queue.then(() => this.swapNow(load));
    this.queue = run.catch(() => {});
    return run;
  }

  /** Stops new leases and releases the current model after its in-flight requests (waits for running swaps). */
  async close(): Promise<void> {
    await this.queue;
    if (this.closed) return;
    this.closed = true;
    const e = this.current;
    e.retired = true;
    if (e.inFlight === 0) this.releaseEntry(e);
    await e.releasedPromise;
  }

  private async swapNow(load: ModelLoader<M>): Promise<SwapReport> {
    if (this.closed) throw new RagError('UNAVAILABLE', 'ModelSlot: closed');
    const t0 = performance.now();
    let loaded: LoadedModel<M>;
    try {
      loaded = await load();
    } catch (err) {
      this.stats.failedSwaps++;
      throw err;
    }
    const t1 = performance.now();
    try {
      if (loaded.version === this.current.loaded.version) {
        throw new RagError('INVALID_INPUT', `ModelSlot: the new model has the version of the one serving ('${loaded.version}'); caches key on it, so a new model needs a new version`);
      }
      await this.runWarmUp(loaded);
    } catch (err) {
      this.stats.failedSwaps++;
      this.stats.released++;
      try {
        await loaded.release();
      } catch (releaseErr) {
        this.onReleaseError?.(releaseErr, loaded.version);
      }
      throw err;
    }
    const t2 = performance.now();
    const old = this.current;
    this.current = this.entry(loaded); // the one reference requests read
    this.stats.swaps++;
    old.retired = true;
    if (old.inFlight === 0) this.releaseEntry(old);
    return { from: old.loaded.version, to: loaded.version, loadMs: t1 - t0, warmMs: t2 - t1, released: old.releasedPromise };
  }

  private async runWarmUp(loaded: LoadedModel<M>): Promise<void> {
    if (!this.warm) return;
    for (let i = 0; i < this.warmRuns; i++) await this.warm(loaded.model, loaded.version);
  }

  private entry(loaded: LoadedModel<M>): Entry<M> {
    let onReleased!: () => void;
    const releasedPromise = new Promise<void>((resolve) => (onReleased = resolve));
    return { loaded, inFlight: 0, retired: false, releasing: undefined, onReleased, releasedPromise };
  }

  private releaseEntry(e: Entry<M>): void {
    if (e.releasing) return;
    this.stats.released++;
    e.releasing = (async () => {
      try {
        await e.loaded.release();
      } catch (err) {
        this.onReleaseError?.(err, e.loaded.version);
      } finally {
        e.onReleased();
      }
    })();
  }
}
