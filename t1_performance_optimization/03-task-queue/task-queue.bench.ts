/**
 * Benchmark for 03-task-queue: `concurrency` clients upload n Brown documents to the API, one POST each; one call of a
 * variant ends when every document is indexed (end-to-end). The headline is the API's latency: the p99 over every
 * POST of every call but the first (cold) one, with a bootstrap spread. Needs Redis (REDIS_URL, default
 * redis://127.0.0.1:6379). Run: npm run t1 -- --only 03-task-queue [--quick]
 */
import { performance } from 'node:perf_hooks';
import { chunkDocument, indexText } from '../../shared/corpus/chunk.ts';
import { loadBrown } from '../../shared/corpus/brown.ts';
import { createDefaultEmbedder } from '../../shared/embed/sif.ts';
import { defineLesson, type Curve, type CurvePoint, type Metric } from '../../shared/lab/lesson.ts';
import { measured } from '../../shared/lab/metric.ts';
import type { Doc } from '../../shared/types.ts';
import * as after from './after.ts';
import * as before from './before.ts';
import { percentile, startLoadGenerator, type LoadGenerator } from './client.ts';
import { createLessonEngine } from './lesson-engine.ts';
import { redisSkipReason, type IngestService } from './service.ts';

interface Size {
  /** Documents uploaded per call. */
  docs: number;
  /** Clients uploading at once. */
  concurrency: number;
  /** Client counts for the p99-against-clients curve, one batch per point (none: no curve). */
  curve: number[];
}

/** What the measured calls of one variant saw. */
interface Run {
  calls: number;
  /** Latency of every POST, ms. */
  latencies: number[];
  /** Per call: ms until the last POST was answered, and until the last document was indexed. */
  answeredMs: number[];
  indexedMs: number[];
}

interface Input {
  size: Size;
  docs: Doc[];
  /** before, after, and with --impl exercise the learner's exercise.ts, each on its own engine. */
  services: Record<string, IngestService>;
  load: LoadGenerator;
  runs: Record<string, Run>;
  /** Why the learner's exercise.ts service did not start, if it did not. */
  exerciseError?: string;
}

/** Upload every document with `concurrency` clients and wait until all are indexed. */
async function ingestBatch(input: Input, name: string, concurrency: number): Promise<{ latencies: number[]; answered: number; indexed: number }> {
  const svc = input.services[name];
  const t0 = performance.now();
  const report = await input.load.run(svc.url, concurrency);
  if (report.failed.size > 0) throw new Error(`${report.failed.size} uploads failed: ${[...report.failed.values()][0]}`);
  const answered = performance.now() - t0;
  await svc.drain(120_000);
  return { latencies: report.latencies, answered, indexed: performance.now() - t0 };
}

/**
 * One call of a variant: a batch at the lesson's concurrency, recorded unless it is the variant's first call (cold: it
 * meets a freshly started API process and unwarmed code). Every later call counts, a warm-up call included.
 */
async function call(input: Input, name: string): Promise<unknown> {
  const r = await ingestBatch(input, name, input.size.concurrency);
  const run = (input.runs[name] ??= { calls: 0, latencies: [], answeredMs: [], indexedMs: [] });
  if (run.calls++ > 0) {
    run.latencies.push(...r.latencies);
    run.answeredMs.push(r.answered);
    run.indexedMs.push(r.indexed);
  }
  return r;
}

export default defineLesson<Size, Input>({
  id: 't1/03-task-queue',
  title: 'Task queue: ingestion inside the request vs a BullMQ queue with workers',
  workload:
    'c clients upload n Brown documents (≈2,000 words each, one POST /documents per document) to a loopback API; ' +
    'a call ends when every document is chunked, embedded (SIF GloVe) and indexed (BM25 + flat) — re-uploads replace',
  sizes: { quick: { docs: 16, concurrency: 8, curve: [] }, full: { docs: 128, concurrency: 32, curve: [1, 4, 16, 32] } },
  skip: () => redisSkipReason(),
  setup: async (size, ctx) => {
    const docs = await loadBrown({ limit: size.docs });
    // The load generator and each API process are Node processes of their own, slow to boot (Node, tsx, undici or
    // BullMQ): they are started first (the load generator before GloVe loads, the API processes before SIF fits, which
    // happens before anything is ingested) and boot side by side while this process works.
    const loading = startLoadGenerator(docs);
    ctx.log('loading GloVe');
    const sif = await createDefaultEmbedder();
    const ex = ctx.exercise as typeof after | undefined;
    ctx.log(`starting the services${ex ? ' (with exercise.ts)' : ''}, fitting SIF on ${size.docs} Brown documents`);
    const starting = Promise.all([
      before.startIngestService({ engine: createLessonEngine(sif) }),
      after.startIngestService({ engine: createLessonEngine(sif) }),
      // The learner's service failing to start fails its row, not the lesson.
      ex?.startIngestService({ engine: createLessonEngine(sif) }).catch((err: unknown) => (err instanceof Error ? err : new Error(String(err)))),
      loading,
    ]);
    starting.catch(() => {});
    await sif.fit(docs.flatMap((d) => chunkDocument(d)).map(indexText));
    const [b, a, e, load] = await starting;
    return {
      size,
      docs,
      services: { before: b, after: a, ...(e && !(e instanceof Error) ? { exercise: e } : {}) },
      ...(e instanceof Error ? { exerciseError: `exercise.ts: startIngestService failed: ${e.message}` } : {}),
      load,
      runs: {},
    };
  },
  teardown: async (input) => {
    await Promise.all([...Object.values(input.services).map((s) => s.close()), input.load.close()]);
  },
  baseline: 'before',
  headline: { name: 'API p99 under concurrent clients', unit: 'ms', better: 'lower', metric: 'API latency p99' },
  variants: {
    before: (input) => call(input, 'before'),
    after: (input) => call(input, 'after'),
  },
  exercise: (input) => {
    if (input.exerciseError) throw new Error(input.exerciseError);
    return call(input, 'exercise');
  },
  // One call per round (a whole batch, until indexed).
  options: { iterations: 1, time: 0, warmupTime: 0 },
  extras: async (input, ctx) => {
    const metrics: Metric[] = [];
    const n = input.docs.length;
    const c = input.size.concurrency;
    for (const [name, r] of Object.entries(input.runs)) {
      if (r.latencies.length === 0) continue;
      metrics.push(
        measured('API latency p99', 'ms', r.latencies, { variant: name, stat: 'p99', note: `${r.latencies.length} POSTs, ${c} concurrent clients` }),
        measured('API latency p50', 'ms', r.latencies, { variant: name, stat: 'median', note: `${r.latencies.length} POSTs` }),
        measured('all POSTs answered after', 'ms', r.answeredMs, { variant: name, note: `mean per batch of ${n}` }),
        measured('end-to-end throughput', 'docs/s', r.indexedMs.map((ms) => (n * 1000) / ms), { variant: name, note: 'until every document is indexed' }),
      );
    }
    // API p99 against the number of concurrent clients: one batch per point (full runs).
    const curves: Curve[] = [];
    if (input.size.curve.length > 0) {
      const points: CurvePoint[] = [];
      for (const clients of input.size.curve) {
        for (const name of Object.keys(input.services)) {
          const { latencies } = await ingestBatch(input, name, clients);
          points.push({ series: name, x: clients, y: percentile(latencies, 99) });
        }
        ctx.log(`p99 vs clients: c=${clients} done`);
      }
      curves.push({ id: 'p99-vs-clients', title: 'API latency p99 against concurrent clients', xLabel: 'concurrent clients', yLabel: 'p99 ms', xLog: true, points });
    }
    return { metrics, curves };
  },
});
