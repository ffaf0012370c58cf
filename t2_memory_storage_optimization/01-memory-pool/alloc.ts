/**
 * How many bytes one call allocates, measured from outside the code under test (used by this lesson and by
 * 02-object-reuse).
 *
 * Node 20 has no allocation counter (`v8.getHeapStatistics()` there has no field for the bytes allocated so far), so
 * a call is measured in a window where no garbage collection runs: JS-heap bytes in use (`heapUsed`) plus the bytes
 * of ArrayBuffer backing stores (`arrayBuffers`, where a typed array longer than 64 bytes keeps its elements) only
 * grow between two collections, so their growth over the window is what the call allocated. A window during which
 * the PerformanceObserver saw a collection run (or that began within a few ms after one, while dead buffers are still
 * being freed) is thrown away and measured again. The few bytes `process.memoryUsage()` allocates itself are measured
 * on an empty window and subtracted.
 *
 * `countTypedArrays` is the deterministic count the checkpoints use: it swaps the global typed-array constructors
 * for counting subclasses while a function runs, so every `new Float32Array(n)`, `Int32Array.from(...)`, and every
 * `slice`/`map`/`filter` copy is seen, whoever wrote it.
 */
import { PerformanceObserver, performance, type PerformanceEntry } from 'node:perf_hooks';
import { setTimeout as sleep, setImmediate as tick } from 'node:timers/promises';
import v8 from 'node:v8';
import vm from 'node:vm';

v8.setFlagsFromString('--expose-gc');
/** A full, synchronous garbage collection (V8's `gc()`, exposed at run time). */
export const fullGc = vm.runInNewContext('gc') as () => void;

/**
 * JS-heap bytes in use plus ArrayBuffer bytes after full collections: what is still reachable. V8 frees the backing
 * stores of dead ArrayBuffers concurrently, after a collection returns, so one collection is not enough: this
 * collects, lets the sweeper run, and repeats until two readings agree (within 64 KB), at most 6 times.
 */
export async function reachableBytes(): Promise<number> {
  let previous = Number.NaN;
  for (let i = 0; i < 6; i++) {
    fullGc();
    await sleep(5);
    const now = inUse();
    if (Math.abs(now - previous) <= 64 * 1024) return now;
    previous = now;
  }
  return previous;
}

function inUse(): number {
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

/** How long after a collection a window still counts as disturbed by it. */
const SWEEP_MS = 5;

export interface AllocationOptions {
  /** Windows to keep (each gives one sample). Default 15. */
  windows?: number;
  /** Calls per window: the sample is the window's bytes divided by this. Default 1. */
  callsPerWindow?: number;
  /** A full collection before each window (slow, ~10–50 ms; makes a collection inside the window unlikely). Default false. */
  gcBefore?: boolean;
  /** Give up on a window after this many tries with a collection inside. Default 20. */
  maxTries?: number;
}

/**
 * Bytes allocated per call of `fn`, one sample per window without a garbage collection inside (see the file
 * comment). The caller warms `fn` up first, so compiling it is not counted.
 */
export async function bytesPerCall(fn: () => unknown, opts: AllocationOptions = {}): Promise<number[]> {
  const windows = opts.windows ?? 15;
  const per = opts.callsPerWindow ?? 1;
  const maxTries = opts.maxTries ?? 20;
  const gcStarts: Array<[number, number]> = [];
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries() as PerformanceEntry[]) gcStarts.push([e.startTime, e.startTime + e.duration]);
  });
  observer.observe({ entryTypes: ['gc'] });
  try {
    // what a window costs with nothing in it (the memoryUsage() result objects)
    const empty: number[] = [];
    for (let i = 0; i < 5; i++) {
      const a = inUse();
      const b = inUse();
      empty.push(b - a);
    }
    const overhead = Math.max(0, Math.min(...empty));
    const samples: number[] = [];
    let tries = 0;
    while (samples.length < windows && tries < windows * maxTries) {
      const batch: Array<{ t0: number; t1: number; bytes: number }> = [];
      for (let w = samples.length; w < windows; w++) {
        if (opts.gcBefore) fullGc();
        const t0 = performance.now();
        const a = inUse();
        for (let i = 0; i < per; i++) fn();
        const b = inUse();
        const t1 = performance.now();
        batch.push({ t0, t1, bytes: b - a - overhead });
        tries++;
      }
      // GC entries arrive asynchronously
      await tick();
      await tick();
      for (const w of batch) {
        // a collection inside the window, or one that ended just before it (dead buffers are freed concurrently
        // for a while after a collection, which would hide bytes the window allocated)
        const collected = gcStarts.some(([s, e]) => e + SWEEP_MS >= w.t0 && s <= w.t1);
        if (!collected && w.bytes >= 0) samples.push(w.bytes / per);
      }
    }
    if (samples.length === 0) throw new Error(`bytesPerCall: every window of ${per} call(s) had a garbage collection in it`);
    return samples;
  } finally {
    observer.disconnect();
  }
}

/**
 * A figure of bytes allocated, measured up to `attempts` times until it is at most `bound`; the lowest seen. Code
 * that has not been optimised yet allocates more than it will (the interpreter boxes every floating-point
 * intermediate), and the optimising compiler runs concurrently, late on a busy machine; a wasteful version stays
 * above the bound however often it is measured, so retrying only ever clears code that really is lean.
 */
export async function lowestUpTo(bound: number, attempts: number, measure: () => Promise<number>): Promise<number> {
  let best = Infinity;
  for (let i = 0; i < attempts && best > bound; i++) best = Math.min(best, await measure());
  return best;
}

/** Calls `fn` for at least `ms` milliseconds and at least `calls` times: time for the optimising compiler. */
export function warmUp(fn: () => unknown, ms: number, calls = 200): void {
  const end = performance.now() + ms;
  for (let n = 0; n < calls || performance.now() < end; n++) fn();
}

/** The median of `xs` (for a robust single figure from `bytesPerCall`'s samples). */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export interface TypedArrayCount {
  /** Typed arrays created with their own memory (views on an existing buffer are not counted). */
  arrays: number;
  /** Their bytes. */
  bytes: number;
}

const TYPED = [
  'Int8Array',
  'Uint8Array',
  'Uint8ClampedArray',
  'Int16Array',
  'Uint16Array',
  'Int32Array',
  'Uint32Array',
  'Float32Array',
  'Float64Array',
  'BigInt64Array',
  'BigUint64Array',
] as const;

type Ctor = new (...args: unknown[]) => ArrayBufferView;

/**
 * Typed arrays `fn` creates with memory of their own: `new X(n)`, `new X(array)`, `X.from`, `X.of`, and the copies
 * `slice`, `map` and `filter` make. Views (`new X(buffer, …)`, `subarray`) share memory and are not counted. The
 * global constructors are swapped for counting subclasses while `fn` runs and restored afterwards.
 */
export function countTypedArrays(fn: () => void): TypedArrayCount {
  const count: TypedArrayCount = { arrays: 0, bytes: 0 };
  const g = globalThis as unknown as Record<string, Ctor>;
  const originals = new Map<string, Ctor>();
  const proto = Object.getPrototypeOf(Int8Array.prototype) as Record<string, (...a: unknown[]) => ArrayBufferView>;
  const copies = ['slice', 'map', 'filter'] as const;
  const originalCopies = new Map<string, (...a: unknown[]) => ArrayBufferView>();
  for (const name of TYPED) {
    const Orig = g[name];
    originals.set(name, Orig);
    const Counting = class extends Orig {
      constructor(...args: unknown[]) {
        super(...args);
        const a0 = args[0];
        const view = a0 instanceof ArrayBuffer || (typeof SharedArrayBuffer !== 'undefined' && a0 instanceof SharedArrayBuffer);
        if (!view) {
          count.arrays++;
          count.bytes += (this as ArrayBufferView).byteLength;
        }
      }
    };
    // species: copies and views of a counting array are made by the original constructor, counted below
    Object.defineProperty(Counting, Symbol.species, { get: () => Orig });
    Object.defineProperty(Counting, 'name', { value: name });
    g[name] = Counting as unknown as Ctor;
  }
  for (const m of copies) {
    const orig = proto[m];
    originalCopies.set(m, orig);
    proto[m] = function (this: ArrayBufferView, ...args: unknown[]) {
      const out = orig.apply(this, args);
      count.arrays++;
      count.bytes += out.byteLength;
      return out;
    };
  }
  try {
    fn();
  } finally {
    for (const [name, Orig] of originals) g[name] = Orig;
    for (const [m, orig] of originalCopies) proto[m] = orig;
  }
  return count;
}
