import { performance } from 'node:perf_hooks';

/**
 * Cuts long synchronous work into slices of about `budgetMs` each, letting the event loop run in between (timers,
 * I/O: the queries a server has received meanwhile):
 *
 *     const slices = new TimeSlicer(4);
 *     for (const item of items) {
 *       work(item);
 *       if (slices.due()) await slices.pause();
 *     }
 *
 * `pause` yields with setImmediate, i.e. after the I/O callbacks that are ready, so everything that arrived during
 * a slice runs before the next one. A budget of 0 pauses at every check (tests use it to interleave at most).
 *
 * With `share` (0 < share < 1) and `busy`, the work also yields time, not just turns: when `busy()` says other work
 * ran during the pause (queries were answered), the pause is stretched so this work takes at most `share` of the
 * thread's time while the other work goes on (a slice of s ms is followed by s·(1 − share)/share ms of waiting).
 * When nothing else is running it goes at full speed.
 */
export interface SlicerOptions {
  /** The most of the thread's time the work takes while `busy()` reports other work. Default 1 (no limit). */
  share?: number;
  /** True when other work ran since the last call (the engine: a query started). */
  busy?: () => boolean;
}

export class TimeSlicer {
  private start = performance.now();
  /** Pauses so far. */
  pauses = 0;
  /** The longest slice so far, in ms (from one pause to the next check that found it due). */
  longestMs = 0;
  /** Milliseconds spent waiting beyond the turn itself, to leave the thread to other work (see `share`). */
  yieldedMs = 0;
  private readonly share: number;
  private readonly busy: (() => boolean) | undefined;

  constructor(
    readonly budgetMs: number,
    opts: SlicerOptions = {},
  ) {
    if (!(budgetMs >= 0)) throw new RangeError(`TimeSlicer: budgetMs must be >= 0, got ${budgetMs}`);
    this.share = opts.share ?? 1;
    if (!(this.share > 0 && this.share <= 1)) throw new RangeError(`TimeSlicer: share must be in (0, 1], got ${opts.share}`);
    this.busy = opts.busy;
  }

  /** True once this slice has used its budget. */
  due(): boolean {
    return performance.now() - this.start >= this.budgetMs;
  }

  /** Lets the event loop run, then starts a new slice. */
  async pause(): Promise<void> {
    const ran = performance.now() - this.start;
    if (ran > this.longestMs) this.longestMs = ran;
    this.pauses++;
    await new Promise<void>((resolve) => setImmediate(resolve));
    if (this.share < 1 && this.busy?.()) {
      const wait = (ran * (1 - this.share)) / this.share;
      const t = performance.now();
      // keep yielding while others work, until this work's share of the time is respected
      while (performance.now() - t < wait && this.busy()) await new Promise<void>((resolve) => setTimeout(resolve, Math.min(wait, 2)));
      this.yieldedMs += performance.now() - t;
    }
    this.start = performance.now();
  }

  /** Pauses if the slice is due. */
  async check(): Promise<void> {
    if (this.due()) await this.pause();
  }

  /** Runs a generator that yields at safe points, pausing whenever a slice is due; returns its result. */
  async drive<T>(steps: Generator<void, T, void>): Promise<T> {
    let r = steps.next();
    while (!r.done) {
      if (this.due()) await this.pause();
      r = steps.next();
    }
    return r.value;
  }
}
