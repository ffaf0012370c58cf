/**
 * A query worker run as a child process with the node flags under test (gc-kit.ts starts it): builds the engine over
 * the first `docs` Brown documents, then answers commands over IPC:
 *
 *   {t:'run', n}        run n queries (the lesson's fixed list, `concurrency` at a time); reply {t:'ran', ms}
 *   {t:'window', n}     a measured window: forced GC, n queries with every latency and every GC (PerformanceObserver
 *                       'gc') recorded, forced GC; reply {t:'window', ...WindowStats}
 *   {t:'exit'}          exit (stdout, where --trace-gc writes, is flushed)
 *
 * On start it replies {t:'ready', liveHeapBytes, heapLimitBytes, digest} once warm. `keep` is the allocation shape
 * of a "recent answers" feature: nothing, the last `ring` results as the engine's objects, or only their chunk ids
 * (one string per result).
 */
import { PerformanceObserver, constants, performance } from 'node:perf_hooks';
import { setImmediate as tick } from 'node:timers/promises';
import { GCProfiler, getHeapStatistics } from 'node:v8';
import { createHash } from 'node:crypto';
import { loadBrown } from '../../shared/corpus/brown.ts';
import { createEngine, type QueryResult } from '../../shared/engine.ts';
import { lessonQueries, type WorkerConfig, type WindowStats, type FromWorker, type ToWorker } from './gc-kit.ts';

const cfg = JSON.parse(process.argv[2] ?? '{}') as WorkerConfig;
const send = (m: FromWorker) => process.send!(m);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('worker.ts needs --expose-gc');
/** Forced GCs so far: each is a "testing" line in --trace-gc, which is how trace.ts finds a window's lines. */
let forced = 0;
const forceGc = () => {
  gc();
  forced++;
};

const docs = await loadBrown({ limit: cfg.docs });
const engine = await createEngine();
await engine.ingest(docs);
const queries = lessonQueries(docs, 1_000);
const ring: unknown[] = new Array(cfg.ring ?? 0);
let ringAt = 0;
let cursor = 0;

function keep(r: QueryResult): void {
  if (cfg.keep === 'none' || ring.length === 0) return;
  ring[ringAt++ % ring.length] = cfg.keep === 'ids' ? r.hits.map((h) => h.chunkId).join(',') : r;
}

async function run(n: number, latencies?: number[]): Promise<void> {
  let started = 0;
  const lane = async () => {
    while (started < n) {
      started++;
      const q = queries[cursor++ % queries.length];
      const t0 = performance.now();
      const r = await engine.query(q, { k: 10 });
      latencies?.push(performance.now() - t0);
      keep(r);
    }
  };
  await Promise.all(Array.from({ length: cfg.concurrency }, lane));
}

// warm-up, then the answers' digest: the first 50 queries in order, one at a time
await run(cfg.warmup);
const digest = createHash('sha1');
for (const q of queries.slice(0, 50)) {
  const r = await engine.query(q, { k: 10 });
  digest.update(`${q}\u0001${r.hits.map((h) => h.chunkId).join(',')}\n`);
}
forceGc();
forceGc();
send({
  t: 'ready',
  liveHeapBytes: process.memoryUsage().heapUsed,
  heapLimitBytes: getHeapStatistics().heap_size_limit,
  digest: digest.digest('hex'),
  forcedGcs: forced,
});

/** What a GCProfiler recorded: each GC's type and the heap used before and after it, in bytes. */
interface ProfiledGc {
  gcType: string;
  beforeGC: { heapStatistics: { usedHeapSize: number } };
  afterGC: { heapStatistics: { usedHeapSize: number } };
}

/**
 * A measured window: forced GC, n queries with every latency and every GC recorded, forced GC. Pause times come from
 * PerformanceObserver('gc'); sizes from v8.GCProfiler: the bytes allocated in the window are what each GC found above
 * what the previous one left (the first: above the heap after the opening forced GC), plus the growth since the last.
 */
async function window(n: number): Promise<WindowStats> {
  forceGc();
  const startMarker = forced;
  const usedAtStart = process.memoryUsage().heapUsed;
  const gcs: Array<{ kind: number; ms: number }> = [];
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) gcs.push({ kind: (e as unknown as { detail: { kind: number } }).detail.kind, ms: e.duration });
  });
  obs.observe({ entryTypes: ['gc'] });
  const profiler = new GCProfiler();
  profiler.start();
  const latencies: number[] = [];
  const t0 = performance.now();
  await run(n, latencies);
  const wallMs = performance.now() - t0;
  const usedAtEnd = process.memoryUsage().heapUsed;
  const profile = (profiler.stop()?.statistics ?? []) as ProfiledGc[];
  await tick();
  await tick();
  obs.disconnect();
  forceGc();
  let allocated = 0;
  let previous = usedAtStart;
  for (const g of profile) {
    allocated += Math.max(0, g.beforeGC.heapStatistics.usedHeapSize - previous);
    previous = g.afterGC.heapStatistics.usedHeapSize;
  }
  allocated += Math.max(0, usedAtEnd - previous);
  const sum = (kind: number) => gcs.filter((g) => g.kind === kind).reduce((s, g) => s + g.ms, 0);
  const count = (kind: number) => gcs.filter((g) => g.kind === kind).length;
  return {
    queries: n,
    wallMs,
    latencies,
    gcMs: gcs.reduce((s, g) => s + g.ms, 0),
    scavenges: count(constants.NODE_PERFORMANCE_GC_MINOR),
    scavengeMs: sum(constants.NODE_PERFORMANCE_GC_MINOR),
    markCompacts: count(constants.NODE_PERFORMANCE_GC_MAJOR),
    markCompactMs: sum(constants.NODE_PERFORMANCE_GC_MAJOR),
    otherGcMs: sum(constants.NODE_PERFORMANCE_GC_INCREMENTAL) + sum(constants.NODE_PERFORMANCE_GC_WEAKCB),
    allocatedBytes: allocated,
    profiledScavenges: profile.filter((g) => g.gcType === 'Scavenge').length,
    heapAfterBytes: usedAtEnd,
    markers: [startMarker, forced],
  };
}

process.on('message', (m: ToWorker) => {
  void (async () => {
    if (m.t === 'run') {
      const t0 = performance.now();
      await run(m.n);
      send({ t: 'ran', ms: performance.now() - t0 });
    } else if (m.t === 'window') {
      send({ t: 'window', stats: await window(m.n) });
    } else if (m.t === 'exit') {
      process.exit(0);
    }
  })().catch((err: Error) => send({ t: 'error', message: err.stack ?? err.message }));
});
