/**
 * Counting what a chunk embedder asks of its pool (the benchmark and the checkpoint use it; the embedders never see
 * it): `watchPool(pool)` wraps the pool's `run` and counts the tasks, how many were in flight at once, and how the
 * rows of each result crossed back to the main thread, by the task's return mode and the bytes of its rows.
 * Counts, not times: the same on any machine and under any load.
 */
import type { EmbedTask, EmbeddedChunks, ReturnMode } from './work.ts';

/** The part of a piscina pool the watch needs. */
export interface Runnable {
  run(task: never, options?: never): Promise<unknown>;
}

export interface PoolCounts {
  /** Tasks run (embedding tasks only: warm-up and benchmark-only tasks are not counted). */
  tasks: number;
  /** Documents in those tasks. */
  docs: number;
  /** Most tasks submitted to the pool and not yet settled at any moment: running, or waiting in the pool's queue. */
  maxInFlight: number;
  /** Bytes of rows per return mode: 'copy' cloned by postMessage, 'shared' copied into shared memory by the worker,
   *  'transfer' moved (the buffer changes owner, nothing copied). */
  bytes: Record<ReturnMode, number>;
  /** Return modes the tasks asked for. */
  modes: Set<ReturnMode>;
}

export interface PoolWatch {
  readonly counts: PoolCounts;
  /** Start counting afresh. */
  reset(): void;
  /** Put the pool's own `run` back. */
  restore(): void;
}

const emptyCounts = (): PoolCounts => ({ tasks: 0, docs: 0, maxInFlight: 0, bytes: { copy: 0, transfer: 0, shared: 0 }, modes: new Set() });

const isEmbedTask = (t: unknown): t is EmbedTask =>
  typeof t === 'object' && t !== null && Array.isArray((t as EmbedTask).docs) && (t as EmbedTask).docs.length > 0;

/** Wrap `pool.run` to count what goes through it (until `restore()`). */
export function watchPool(pool: Runnable): PoolWatch {
  const target = pool as { run: (task: unknown, options?: unknown) => Promise<unknown> };
  const own = Object.prototype.hasOwnProperty.call(target, 'run') ? target.run : undefined;
  const original = target.run;
  let counts = emptyCounts();
  let inFlight = 0;
  target.run = function run(task: unknown, options?: unknown): Promise<unknown> {
    if (!isEmbedTask(task)) return original.call(pool, task, options);
    const c = counts;
    c.tasks++;
    c.docs += task.docs.length;
    c.modes.add(task.mode);
    inFlight++;
    c.maxInFlight = Math.max(c.maxInFlight, inFlight);
    const settle = () => {
      inFlight--;
    };
    return original.call(pool, task, options).then(
      (out) => {
        settle();
        const v = (out as EmbeddedChunks | undefined)?.vectors;
        if (v && task.mode in c.bytes) c.bytes[task.mode] += v.byteLength;
        return out;
      },
      (err: unknown) => {
        settle();
        throw err;
      },
    );
  };
  return {
    get counts() {
      return counts;
    },
    reset() {
      counts = emptyCounts();
    },
    restore() {
      if (own) target.run = own;
      else delete (target as { run?: unknown }).run;
    },
  };
}

/** Bytes of rows that were copied on their way back (by structured clone, or into shared memory). */
export const bytesCopied = (c: PoolCounts): number => c.bytes.copy + c.bytes.shared;
