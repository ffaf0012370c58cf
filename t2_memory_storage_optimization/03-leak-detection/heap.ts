/**
 * Heap measured the way a leak is judged: after a full garbage collection, so only what is still reachable counts.
 * `gc` is not exposed without `--expose-gc`; setting the flag late and fetching it from a fresh context works in any
 * process (the lab runner, a vitest fork) without restarting it.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

let gcFn: (() => void) | undefined;

/** A full, synchronous garbage collection. */
export function fullGc(): void {
  if (gcFn === undefined) {
    setFlagsFromString('--expose-gc');
    gcFn = runInNewContext('gc') as () => void;
  }
  gcFn();
}

/** Bytes of live JS heap after a full GC (two rounds: the first may leave finalisers to a second). */
export function liveHeapBytes(): number {
  fullGc();
  fullGc();
  return process.memoryUsage().heapUsed;
}

/** Live-heap growth over `work`, in bytes: measured after a full GC before and after. */
export async function heapGrowth(work: () => Promise<unknown>): Promise<number> {
  const h0 = liveHeapBytes();
  await work();
  // let sockets finish closing and timers of the last requests run before collecting
  await new Promise((r) => setTimeout(r, 20));
  return liveHeapBytes() - h0;
}

export const MiB = 1024 * 1024;
export const mb = (bytes: number): string => `${(bytes / MiB).toFixed(1)} MB`;
