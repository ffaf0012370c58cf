/**
 * Benchmark for 03-task-queue: `concurrency` clients upload n Brown documents to the API, one POST each; the
 * iteration ends when every document is indexed (end-to-end). Per-request latencies are collected across all
 * iterations for the API p50/p99. Needs Redis (REDIS_URL, default redis://127.0.0.1:6379).
 * Run: npm run t1 -- --only 03-task-queue [--quick]
 */
import { performance } from 'node:perf_hooks';
import { chunkDocument } from '../../shared/corpus/chunk.ts';
import { loadBrown } from '../../shared/corpus/brown.ts';
import { createDefaultEmbedder } from '../../shared/embed/sif.ts';
import { indexText } from '../../shared/corpus/chunk.ts';
import { defineLesson, type CurvePoint, type Metric } from '../../shared/lab/lesson.ts';
import type { Doc } from '../../shared/types.ts';
import * as after from './after.ts';
import * as before from './before.ts';
import { percentile, startLoadGenerator, type LoadGenerator } from './client.ts';
import { createLessonEngine } from './lesson-engine.ts';
import { redisSkipReason, type IngestService } from './service.ts';

interface Size {
  /** Documents uploaded per iteration. */
  docs: number;
  /** Clients uploading at once. */
  concurrency: number;
}

interface Run {
  /** Latency of every POST, ms. */
  latencies: number[];
  /** ms until the last POST was answered, and until the last document was indexed. */
  answeredMs: number[];
  indexedMs: number[];
}

interface Input {
  size: Size;
  docs: Doc[];
  services: Record<'before' | 'after', IngestService>;
  load: LoadGenerator;
  runs: Record<'before' | 'after', Run>;
}

async function ingestBatch(input: Input, name: 'before' | 'after', concurrency: number, run?: Run): Promise<{ answered: number; indexed: number; p99: number }> {
  const svc = input.services[name];
  const t0 = performance.now();
  const report = await input.load.run(svc.url, concurrency);
  if (report.failed.size > 0) throw new Error(`${report.failed.size} uploads failed: ${[...report.failed.values()][0]}`);
  const answered = performance.now() - t0;
  await svc.drain(120_000);
  const indexed = performance.now() - t0;
  if (run) {
    run.latencies.push(...report.latencies);
    run.answeredMs.push(answered);
    run.indexedMs.push(indexed);
  }
  return { answered, indexed, p99: percentile(report.latencies, 99) };
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

export default defineLesson<Size, Input>({
  id: 't1/03-task-queue',
  title: 'Task queue: ingestion inside the request vs a BullMQ queue with workers',
  workload:
    'c clients upload n Brown documents (≈2,000 words each, one POST /documents per document) to a loopback API; ' +
    'an iteration ends when every document is chunked, embedded (SIF GloVe) and indexed (BM25 + flat) — re-uploads replace',
  sizes: { quick: { docs: 40, concurrency: 16 }, full: { docs: 200, concurrency: 32 } },
  skip: () => redisSkipReason(),
  setup: async (size, ctx) => {
    ctx.log(`loading ${size.docs} Brown documents and GloVe, fitting SIF`);
    const docs = await loadBrown({ limit: size.docs });
    const sif = await createDefaultEmbedder();
    await sif.fit(docs.flatMap((d) => chunkDocument(d)).map(indexText));
    const services = {
      before: await before.startIngestService({ engine: createLessonEngine(sif) }),
      after: await after.startIngestService({ engine: createLessonEngine(sif) }),
    };
    const fresh = (): Run => ({ latencies: [], answeredMs: [], indexedMs: [] });
    const load = await startLoadGenerator(docs);
    return { size, docs, services, load, runs: { before: fresh(), after: fresh() } };
  },
  teardown: async (input) => {
    await Promise.all([input.services.before.close(), input.services.after.close(), input.load.close()]);
  },
  baseline: 'before',
  headline: { name: 'time per call', unit: 'ms', better: 'lower' },
  variants: {
    before: (input) => ingestBatch(input, 'before', input.size.concurrency, input.runs.before),
    after: (input) => ingestBatch(input, 'after', input.size.concurrency, input.runs.after),
  },
  options: { iterations: 2, time: 0, warmupTime: 0 },
  extras: async (input, ctx) => {
    const metrics: Metric[] = [];
    for (const name of ['before', 'after'] as const) {
      const r = input.runs[name];
      const n = input.docs.length;
      metrics.push(
        { name: 'API latency p50', value: percentile(r.latencies, 50), unit: 'ms', variant: name, note: `${r.latencies.length} POSTs` },
        { name: 'API latency p99', value: percentile(r.latencies, 99), unit: 'ms', variant: name, note: `${input.size.concurrency} concurrent clients` },
        { name: 'all POSTs answered after', value: mean(r.answeredMs), unit: 'ms', variant: name, note: `mean per batch of ${n}` },
        { name: 'end-to-end throughput', value: (n * 1000) / mean(r.indexedMs), unit: 'docs/s', variant: name, note: 'until every document is indexed' },
      );
    }
    // API p99 against the number of concurrent clients: one batch per point.
    const points: CurvePoint[] = [];
    for (const c of ctx.mode === 'quick' ? [1, 16] : [1, 4, 16, 32]) {
      for (const name of ['before', 'after'] as const) {
        const { p99 } = await ingestBatch(input, name, c);
        points.push({ series: name, x: c, y: p99 });
      }
      ctx.log(`p99 vs clients: c=${c} done`);
    }
    return {
      metrics,
      curves: [{ id: 'p99-vs-clients', title: 'API latency p99 against concurrent clients', xLabel: 'concurrent clients', yLabel: 'p99 ms', xLog: true, points }],
    };
  },
});
