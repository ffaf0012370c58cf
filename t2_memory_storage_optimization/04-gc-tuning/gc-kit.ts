/**
 * What every setting of the lesson is run with: GC settings as node flags, a query worker started with them as a
 * child process (worker.ts), the windows it measures, and its `--trace-gc` output read back.
 *
 *     const w = await startWorker(settings, cfg);
 *     const stats = await w.window(1_500);     // GC pauses, latencies, scavenges, bytes allocated...
 *     await w.close();
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { defaultAnalyzer } from '../../shared/text/analyzer.ts';
import { tokenize } from '../../shared/text/tokenize.ts';
import { mulberry32 } from '../../shared/util/random.ts';
import { REPO_ROOT } from '../../shared/util/paths.ts';
import type { Doc } from '../../shared/types.ts';

/** The GC settings of a query worker, in MB as node's flags take them. */
export interface GcSettings {
  /** --max-semi-space-size: each of the young generation's two semi-spaces. */
  semiSpaceMB: number;
  /** --max-old-space-size: the old generation's cap. */
  oldSpaceMB: number;
}

/** The load a worker serves, as measured (by a worker with Node's defaults, after warm-up): what the settings are chosen for. */
export interface LoadProfile {
  /** Live heap after warm-up and a forced GC: the engine's indexes, embedder, caches. */
  liveHeapMB: number;
  /** Bytes allocated per query, in KB (v8.GCProfiler over a window of queries). */
  allocatedKBPerQuery: number;
  /** Queries per second one worker ran in that window (8 in flight). */
  queriesPerSecond: number;
  /** What the worker may use for its JS heap (V8's heap limit): WORKER_HEAP_BUDGET_MB. */
  budgetMB: number;
}

/** The load profile from a warm worker and one of its windows. */
export function profileOf(w: Pick<RunningWorker, 'liveHeapBytes'>, s: WindowStats): LoadProfile {
  return {
    liveHeapMB: w.liveHeapBytes / MB,
    allocatedKBPerQuery: s.allocatedBytes / 1024 / s.queries,
    queriesPerSecond: (s.queries * 1000) / s.wallMs,
    budgetMB: WORKER_HEAP_BUDGET_MB,
  };
}

/** What one worker process may use for its JS heap (V8's heap_size_limit): four workers and the OS in about 1 GB. */
export const WORKER_HEAP_BUDGET_MB = 256;

/**
 * The flags for some settings. The young generation is pinned at its size (--min-semi-space-size as well): a worker
 * under steady load grows it to the maximum within seconds anyway, and pinned it behaves the same from the first
 * request, which is what a measurement of a few seconds needs.
 */
export function nodeFlags(s: GcSettings): string[] {
  return [`--max-semi-space-size=${s.semiSpaceMB}`, `--min-semi-space-size=${s.semiSpaceMB}`, `--max-old-space-size=${s.oldSpaceMB}`];
}

/**
 * `n` queries of 2 to 5 content words drawn from `docs` (seeded: the same list on every machine), the workload every
 * worker runs in the same order.
 */
export function lessonQueries(docs: readonly Doc[], n: number, seed = 7): string[] {
  const words = [...new Set(docs.flatMap((d) => tokenize(d.text)).filter((w) => w.length > 3 && defaultAnalyzer.analyze(w).length > 0))].sort();
  const rand = mulberry32(seed);
  return Array.from({ length: n }, () => Array.from({ length: 2 + Math.floor(rand() * 4) }, () => words[Math.floor(rand() * words.length)]).join(' '));
}

export interface WorkerConfig {
  docs: number;
  /** Queries in flight at once. */
  concurrency: number;
  /** Queries run before the worker reports ready. */
  warmup: number;
  /** The "recent answers" ring: what it keeps per query, and how many. */
  keep: 'none' | 'objects' | 'ids';
  ring?: number;
}

export interface WindowStats {
  queries: number;
  wallMs: number;
  /** Every query's latency, in ms. */
  latencies: number[];
  /** Total GC pause time in the window (PerformanceObserver 'gc'), and by kind. */
  gcMs: number;
  scavenges: number;
  scavengeMs: number;
  markCompacts: number;
  markCompactMs: number;
  otherGcMs: number;
  /** Bytes allocated in the window (v8.GCProfiler's heap sizes around each GC), and the scavenges it saw. */
  allocatedBytes: number;
  profiledScavenges: number;
  heapAfterBytes: number;
  /** The forced GCs (counted from the start, reason "testing" in --trace-gc) that open and close the window. */
  markers: [number, number];
}

export type ToWorker = { t: 'run'; n: number } | { t: 'window'; n: number } | { t: 'exit' };
export type FromWorker =
  | { t: 'ready'; liveHeapBytes: number; heapLimitBytes: number; digest: string; forcedGcs: number }
  | { t: 'ran'; ms: number }
  | { t: 'window'; stats: WindowStats }
  | { t: 'error'; message: string };

export interface RunningWorker {
  settings: GcSettings | undefined;
  /** Live heap after warm-up and a forced GC, and V8's heap limit under these flags. */
  liveHeapBytes: number;
  heapLimitBytes: number;
  /** SHA-1 of the first 50 queries' top-10 chunk ids: the same under every setting. */
  digest: string;
  run(n: number): Promise<number>;
  window(n: number): Promise<WindowStats>;
  /** Exits the worker and returns what it wrote on stdout (the --trace-gc lines when started with `traceGc`). */
  close(): Promise<string>;
}

/**
 * The lines --trace-gc wrote between two forced GCs of ours (the `from`-th and `to`-th gc() calls, reason "testing"),
 * both included: one line per GC, e.g.
 * `[1234:0x…]  5210 ms: Scavenge 14.2 (19.8) -> 13.4 (20.1) MB, 0.61 / 0.00 ms  (average mu = …) allocation failure;`
 */
export function traceWindow(output: string, [from, to]: [number, number]): string[] {
  const lines = output.split('\n').filter((l) => / ms: (Scavenge|Mark-Compact|Mark-Sweep|Minor)/.test(l));
  const out: string[] = [];
  let seen = 0;
  for (const line of lines) {
    const forced = /\) testing\b/.test(line);
    if (forced) seen++;
    if (seen >= from && seen <= to && (seen < to || forced)) out.push(line);
    if (seen === to && forced) break;
  }
  return out;
}

const WORKER = fileURLToPath(new URL('./worker.ts', import.meta.url));

/**
 * Starts a worker with the flags for `settings` (undefined: Node's defaults), plus --expose-gc (and --trace-gc with
 * `traceGc`), and waits until it is warm. Rejects with the worker's own words if it dies (out of memory under a tight old space...).
 */
export function startWorker(settings: GcSettings | undefined, cfg: WorkerConfig, opts: { traceGc?: boolean } = {}): Promise<RunningWorker> {
  const child: ChildProcess = fork(WORKER, [JSON.stringify(cfg)], {
    cwd: REPO_ROOT,
    execArgv: ['--import', 'tsx', '--expose-gc', ...(opts.traceGc ? ['--trace-gc'] : []), ...(settings ? nodeFlags(settings) : [])],
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (err += d));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  let pending: { resolve: (m: FromWorker) => void; reject: (e: Error) => void } | undefined;
  const died = (code: number | null, signal: string | null) =>
    new Error(
      `the worker (${settings ? nodeFlags(settings).join(' ') : 'default flags'}) exited (${signal ?? code}): ` +
        (err.trim().split('\n').filter((l) => /heap|memory|Error/i.test(l)).slice(-3).join(' | ') || err.trim().slice(-300)),
    );
  child.on('message', (m: FromWorker) => {
    const p = pending;
    pending = undefined;
    if (m.t === 'error') p?.reject(new Error(`worker: ${m.message}`));
    else p?.resolve(m);
  });
  child.once('exit', (code, signal) => pending?.reject(died(code, signal)));
  const ask = (msg: ToWorker | undefined): Promise<FromWorker> =>
    new Promise((resolve, reject) => {
      if (child.exitCode !== null || child.signalCode !== null) return reject(died(child.exitCode, child.signalCode));
      pending = { resolve, reject };
      if (msg) child.send(msg);
    });
  return ask(undefined).then((ready) => {
    if (ready.t !== 'ready') throw new Error(`worker: expected ready, got ${ready.t}`);
    return {
      settings,
      liveHeapBytes: ready.liveHeapBytes,
      heapLimitBytes: ready.heapLimitBytes,
      digest: ready.digest,
      run: async (n) => {
        const m = await ask({ t: 'run', n });
        return m.t === 'ran' ? m.ms : NaN;
      },
      window: async (n) => {
        const m = await ask({ t: 'window', n });
        if (m.t !== 'window') throw new Error(`worker: expected window, got ${m.t}`);
        return m.stats;
      },
      close: async () => {
        if (child.exitCode === null && child.signalCode === null) child.send({ t: 'exit' } satisfies ToWorker);
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
        return out;
      },
    };
  }, (e: Error) => {
    child.kill('SIGKILL');
    throw e;
  });
}

export const MB = 1024 * 1024;
