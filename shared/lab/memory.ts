/**
 * Memory probes.
 *
 * - `GcRecorder`, for `options.memory`: heap/RSS growth around a measured window and the GC pauses that fell inside
 *   it (PerformanceObserver 'gc' entries, attributed by start time).
 * - `heldBytes`, `heldEach`, `heldAfter`: the memory an object holds, measured from outside: the growth of the V8 heap
 *   plus ArrayBuffer memory (typed arrays, Buffers) between a full GC before it was made and a full GC after, while it
 *   is still referenced. Closures, private fields and native buffers are all counted; nothing the object says about
 *   itself is trusted.
 *
 *   `make` must create the inputs it builds from itself (fresh copies), so an object that merely keeps a reference to
 *   its inputs is charged for them. Each reading waits for the heap to settle (see `settled`). Compiled code (the code
 *   spaces) is left out: the optimising compiler finishes its work in the background, and its code would otherwise
 *   land on whichever object was measured. Good to a few kilobytes: warm `make` up first, and divide by a large
 *   enough count. Each reading costs a few full collections, whose time grows with everything else the process
 *   holds: measure in a process that holds little else.
 */
import { PerformanceObserver, performance, type PerformanceEntry } from 'node:perf_hooks';
import { setImmediate as tick, setTimeout as sleep } from 'node:timers/promises';
import v8 from 'node:v8';
import vm from 'node:vm';

export interface MemoryWindow {
  heapDelta: number;
  rssDelta: number;
  gcCount: number;
  gcPauseMs: number;
}

/** Records every GC while open. `measure` wraps a window of work and reports what happened inside it. */
export class GcRecorder {
  private readonly entries: Array<{ start: number; duration: number }> = [];
  private readonly observer: PerformanceObserver;

  constructor() {
    this.observer = new PerformanceObserver((list) => {
      for (const e of list.getEntries() as PerformanceEntry[]) this.entries.push({ start: e.startTime, duration: e.duration });
    });
    this.observer.observe({ entryTypes: ['gc'] });
  }

  async measure(work: () => Promise<void>): Promise<MemoryWindow> {
    const m0 = process.memoryUsage();
    const t0 = performance.now();
    await work();
    const t1 = performance.now();
    const m1 = process.memoryUsage();
    // GC entries are delivered asynchronously: let the observer callback run before reading them.
    await tick();
    await tick();
    let gcCount = 0;
    let gcPauseMs = 0;
    for (const e of this.entries) {
      if (e.start >= t0 && e.start <= t1) {
        gcCount++;
        gcPauseMs += e.duration;
      }
    }
    return { heapDelta: m1.heapUsed - m0.heapUsed, rssDelta: m1.rss - m0.rss, gcCount, gcPauseMs };
  }

  close(): void {
    this.observer.disconnect();
  }
}

let collect: (() => void) | undefined;

/** A full collection (`--expose-gc` is turned on the first time one is asked for). */
export function fullGc(): void {
  if (!collect) {
    v8.setFlagsFromString('--expose-gc');
    collect = vm.runInNewContext('gc') as () => void;
  }
  collect();
}

/** Compiled code is the program's, not the object's: the code spaces are left out. */
const CODE = new Set(['code_space', 'code_large_object_space']);

function reading(): { heap: number; arrayBuffers: number } {
  let heap = 0;
  for (const s of v8.getHeapSpaceStatistics()) if (!CODE.has(s.space_name)) heap += s.space_used_size;
  return { heap, arrayBuffers: process.memoryUsage().arrayBuffers };
}

/**
 * Collects until two readings in a row agree within 4 KiB (at most 8 rounds). Each collection sweeps on the main
 * thread (the background sweeper leaves dead objects counted on pages it has not reached); the first round collects
 * twice (objects freed by the first collection's weak callbacks and finalizers go in the second). Each round then
 * waits a moment: native handles (zlib streams, file handles) are released by callbacks that run after a
 * collection, and the ArrayBuffer sweeper releases backing stores in the background.
 */
async function settled(): Promise<{ heap: number; arrayBuffers: number }> {
  let last = { heap: -Infinity, arrayBuffers: -Infinity };
  for (let round = 0; round < 8; round++) {
    v8.setFlagsFromString('--no-concurrent-sweeping');
    try {
      fullGc();
      if (round === 0) fullGc();
    } finally {
      v8.setFlagsFromString('--concurrent-sweeping');
    }
    await sleep(5);
    const now = reading();
    if (Math.abs(now.heap + now.arrayBuffers - last.heap - last.arrayBuffers) < 4096) return now;
    last = now;
  }
  return last;
}

export interface Held<T> {
  value: T;
  /** heap + arrayBuffers */
  bytes: number;
  heap: number;
  arrayBuffers: number;
}

/** Runs `make` and returns what it made and the bytes that stay held by it after a full GC. */
export async function heldBytes<T>(make: () => T): Promise<Held<T>> {
  return (await heldEach(make, 1))[0];
}

/**
 * `trials` objects from `make`, made one after another and all kept until the end, each charged with the growth
 * since the one before: trials + 1 readings instead of 2 × trials (each reading costs a few full collections).
 */
export async function heldEach<T>(make: () => T, trials: number): Promise<Array<Held<T>>> {
  const out: Array<Held<T>> = [];
  let a = await settled();
  for (let t = 0; t < trials; t++) {
    const value = make();
    const b = await settled();
    const heap = b.heap - a.heap;
    const arrayBuffers = b.arrayBuffers - a.arrayBuffers;
    out.push({ value, bytes: heap + arrayBuffers, heap, arrayBuffers });
    a = b;
  }
  return out;
}

/** `heldBytes` for an object made asynchronously (a store opened and then used, say). */
export async function heldAfter<T>(make: () => Promise<T>): Promise<Held<T>> {
  const a = await settled();
  const value = await make();
  const b = await settled();
  const heap = b.heap - a.heap;
  const arrayBuffers = b.arrayBuffers - a.arrayBuffers;
  return { value, bytes: heap + arrayBuffers, heap, arrayBuffers };
}
