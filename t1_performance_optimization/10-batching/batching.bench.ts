/**
 * Benchmark for 10-batching: bursts of concurrent retrieval requests (SIF embed + top-10 search over Brown chunks),
 * one call per request vs. micro-batched. Run: npm run t1 -- --only 10-batching [--quick]
 */
import { performance } from 'node:perf_hooks';
import { defineLesson, type CurvePoint, type Metric } from '../../shared/lab/lesson.ts';
import { percentile } from '../../shared/util/stats.ts';
import * as after from './after.ts';
import * as before from './before.ts';
import { loadCorpus, type Corpus } from './data.ts';
import { createService, type Impl, type RetrievalService } from './service.ts';

const K = 10;
/** Concurrent requests per measured iteration. */
const BURST = 32;
/** Clients in the closed-loop sweep: each sends its next request as soon as the previous one is answered. */
const CLIENTS = 48;

interface Size {
  /** Brown documents (of 500), cut into ~100-word chunks. */
  docs: number;
  /** Requests per configuration in the closed-loop sweep. */
  sweepRequests: number;
}

interface Input {
  corpus: Corpus;
  services: Record<string, RetrievalService>;
  cursor: Record<string, number>;
  sweepRequests: number;
}

const CONFIGS: Record<string, { impl: Impl; maxItems: number; maxWaitMs: number }> = {
  before: { impl: before, maxItems: 1, maxWaitMs: 0 },
  'batched N=8 T=2ms': { impl: after, maxItems: 8, maxWaitMs: 2 },
  after: { impl: after, maxItems: 32, maxWaitMs: 2 },
};

function burst(input: Input, variant: string): Promise<unknown> {
  const qs = input.corpus.queries;
  const start = input.cursor[variant] ?? 0;
  input.cursor[variant] = (start + BURST) % qs.length;
  const svc = input.services[variant];
  const calls: Promise<unknown>[] = [];
  for (let i = 0; i < BURST; i++) calls.push(svc.query(qs[(start + i) % qs.length]));
  return Promise.all(calls);
}

interface SweepPoint {
  label: string;
  throughput: number;
  p99WaitMs: number;
  p99TotalMs: number;
}

/** CLIENTS closed-loop clients send `total` requests through one service; throughput and p99 window wait. */
async function closedLoop(corpus: Corpus, impl: Impl, maxItems: number, maxWaitMs: number, total: number): Promise<SweepPoint> {
  const waits: number[] = [];
  const totals: number[] = [];
  const svc = createService(impl, corpus.embedder, corpus.index, {
    k: K,
    maxItems,
    maxWaitMs,
    onRequest: (w, t) => {
      waits.push(w);
      totals.push(t);
    },
  });
  let next = 0;
  const client = async () => {
    while (next < total) {
      const i = next++;
      await svc.query(corpus.queries[i % corpus.queries.length]);
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: CLIENTS }, client));
  const seconds = (performance.now() - t0) / 1000;
  await svc.close();
  waits.sort((a, b) => a - b);
  totals.sort((a, b) => a - b);
  return {
    label: maxItems === 1 ? 'one at a time' : `N=${maxItems} T=${maxWaitMs}ms`,
    throughput: total / seconds,
    p99WaitMs: percentile(waits, 99),
    p99TotalMs: percentile(totals, 99),
  };
}

export default defineLesson<Size, Input>({
  id: 't1/10-batching',
  title: 'Batching: one call per request vs. a micro-batcher in front of embed and search',
  workload:
    `bursts of ${BURST} concurrent requests (a real Brown sentence → SIF embedding → top-${K} cosine over the ` +
    'embedded ~100-word chunks of the first `docs` Brown documents); one iteration = one burst',
  sizes: { quick: { docs: 100, sweepRequests: 384 }, full: { docs: 500, sweepRequests: 2_400 } },
  setup: async (size, ctx) => {
    ctx.log(`loading ${size.docs} Brown documents, GloVe, embedding chunks`);
    const corpus = await loadCorpus({ docs: size.docs, queries: 512 });
    ctx.log(`${corpus.index.n} chunks × ${corpus.index.dim} dims, ${corpus.queries.length} query sentences`);
    const services: Record<string, RetrievalService> = {};
    for (const [name, c] of Object.entries(CONFIGS)) {
      services[name] = createService(c.impl, corpus.embedder, corpus.index, { k: K, maxItems: c.maxItems, maxWaitMs: c.maxWaitMs });
    }
    return { corpus, services, cursor: {}, sweepRequests: size.sweepRequests };
  },
  teardown: async (input) => {
    await Promise.all(Object.values(input.services).map((s) => s.close()));
  },
  baseline: 'before',
  headline: { name: 'time per call', unit: 'ms', better: 'lower' },
  variants: Object.fromEntries(Object.keys(CONFIGS).map((name) => [name, (input: Input) => burst(input, name)])),
  extras: async (input, ctx) => {
    const total = input.sweepRequests;
    const sweep: Array<[number, number]> = [
      [1, 0],
      [4, 1],
      [8, 1],
      [16, 1],
      [32, 1],
      [32, 5],
      [64, 1],
      [64, 5],
    ];
    const points: CurvePoint[] = [];
    const metrics: Metric[] = [];
    for (const [n, t] of sweep) {
      const p = await closedLoop(input.corpus, n === 1 ? before : after, n, t, total);
      ctx.log(`sweep ${p.label}: ${p.throughput.toFixed(0)} req/s, p99 window wait ${p.p99WaitMs.toFixed(2)} ms, p99 latency ${p.p99TotalMs.toFixed(1)} ms`);
      points.push({ series: n === 1 ? 'one at a time' : 'micro-batcher', x: p.p99WaitMs, y: p.throughput, label: p.label });
      metrics.push({ name: `throughput, ${CLIENTS} clients`, value: p.throughput, unit: 'req/s', variant: p.label });
      metrics.push({ name: 'p99 latency added by the window (embed + search)', value: p.p99WaitMs, unit: 'ms', variant: p.label });
      metrics.push({ name: 'p99 request latency', value: p.p99TotalMs, unit: 'ms', variant: p.label });
    }
    metrics.push({ name: 'corpus rows', value: input.corpus.index.n, unit: 'chunks', note: `${input.corpus.index.dim} dims, float32` });
    return {
      metrics,
      curves: [
        {
          id: 'throughput-vs-added-latency',
          title: `Throughput against the p99 latency the window adds (${CLIENTS} closed-loop clients, ${total} requests each point)`,
          xLabel: 'p99 added latency: time waiting for the window to close (ms)',
          yLabel: 'requests per second',
          points,
        },
      ],
    };
  },
});
