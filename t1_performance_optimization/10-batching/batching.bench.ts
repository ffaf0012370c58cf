/**
 * Benchmark for 10-batching: concurrent retrieval requests (SIF embed + top-10 search over Brown chunks), one call
 * per request vs. micro-batched. The headline is throughput with 48 closed-loop clients, beside the p99 latency the
 * window adds. Run: npm run t1 -- --only 10-batching [--quick] [--impl exercise]
 */
import { performance } from 'node:perf_hooks';
import { defineLesson, EXERCISE, type CurvePoint, type Metric } from '../../shared/lab/lesson.ts';
import { measured } from '../../shared/lab/metric.ts';
import * as after from './after.ts';
import * as before from './before.ts';
import { loadCorpus, type Corpus } from './data.ts';
import { createService, type Impl, type RetrievalService } from './service.ts';

const K = 10;
/** Concurrent requests per tinybench iteration. */
const BURST = 32;
/** Clients in the closed-loop trials: each sends its next request as soon as the previous one is answered. */
const CLIENTS = 48;

const THROUGHPUT = `throughput, ${CLIENTS} closed-loop clients`;
const ADDED = 'p99 latency added by the window (embed + search)';

interface Size {
  /** Brown documents (of 500), cut into ~100-word chunks. */
  docs: number;
  /** Requests per closed-loop trial. */
  trialRequests: number;
  /** Trials per variant (interleaved across variants): the headline's spread. */
  trials: number;
  /** Also sweep other window settings for the throughput-against-latency curve. */
  sweep: boolean;
}

interface Config {
  impl: Impl;
  maxItems: number;
  maxWaitMs: number;
}

interface Input {
  size: Size;
  corpus: Corpus;
  configs: Record<string, Config>;
  services: Record<string, RetrievalService>;
  cursor: Record<string, number>;
}

const CONFIGS: Record<string, Config> = {
  before: { impl: before, maxItems: 1, maxWaitMs: 0 },
  /** 48 clients fill one window of 32; the other 16 wait for the timer, and behind the batch that is running. */
  'batched N=32 T=2ms': { impl: after, maxItems: 32, maxWaitMs: 2 },
  /** A window that divides the 48 clients: full windows close at once and almost nothing waits for the timer. */
  after: { impl: after, maxItems: 16, maxWaitMs: 2 },
};

/** Window settings swept in full mode, beyond the variants': [maxItems, maxWaitMs]. */
const SWEEP: Array<[number, number]> = [
  [4, 1],
  [8, 1],
  [16, 1],
  [32, 1],
  [32, 5],
  [64, 1],
  [64, 5],
];

function burst(input: Input, variant: string): Promise<unknown> {
  const qs = input.corpus.queries;
  const start = input.cursor[variant] ?? 0;
  input.cursor[variant] = (start + BURST) % qs.length;
  const svc = input.services[variant];
  const calls: Promise<unknown>[] = [];
  for (let i = 0; i < BURST; i++) calls.push(svc.query(qs[(start + i) % qs.length]));
  return Promise.all(calls);
}

interface Trial {
  throughput: number;
  /** Per request: time spent waiting for windows to close (both stages), and total latency, ms. */
  waits: number[];
  totals: number[];
  /** Requests per call of searchBatch. */
  perCall: number;
}

/** CLIENTS closed-loop clients send `total` requests through a fresh service; throughput, waits, calls. */
async function closedLoop(corpus: Corpus, c: Config, total: number, offset: number): Promise<Trial> {
  const waits: number[] = [];
  const totals: number[] = [];
  let calls = 0;
  let items = 0;
  const counted: Impl = {
    createBatcher: c.impl.createBatcher,
    searchBatch: (index, queries, k) => {
      calls++;
      items += queries.length;
      return c.impl.searchBatch(index, queries, k);
    },
  };
  const svc = createService(counted, corpus.embedder, corpus.index, {
    k: K,
    maxItems: c.maxItems,
    maxWaitMs: c.maxWaitMs,
    onRequest: (w, t) => {
      waits.push(w);
      totals.push(t);
    },
  });
  const qs = corpus.queries;
  let next = 0;
  const client = async () => {
    while (next < total) {
      const i = next++;
      await svc.query(qs[(offset + i) % qs.length]);
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: CLIENTS }, client));
  const seconds = (performance.now() - t0) / 1000;
  await svc.close();
  return { throughput: total / seconds, waits, totals, perCall: items / calls };
}

export default defineLesson<Size, Input>({
  id: 't1/10-batching',
  title: 'Batching: one call per request vs. a micro-batcher in front of embed and search',
  workload:
    `concurrent retrieval requests (a real Brown sentence → SIF embedding → top-${K} cosine over the embedded ` +
    `~100-word chunks of the first \`docs\` Brown documents); one iteration = a burst of ${BURST} requests; the ` +
    `headline: ${CLIENTS} closed-loop clients, each sending its next request when the last is answered`,
  sizes: {
    quick: { docs: 60, trialRequests: 96, trials: 4, sweep: false },
    full: { docs: 500, trialRequests: 960, trials: 5, sweep: true },
  },
  setup: async (size, ctx) => {
    ctx.log(`loading ${size.docs} Brown documents, GloVe, embedding chunks`);
    const corpus = await loadCorpus({ docs: size.docs, queries: 512 });
    ctx.log(`${corpus.index.n} chunks × ${corpus.index.dim} dims, ${corpus.queries.length} query sentences`);
    const ex = ctx.exercise as typeof after | undefined;
    const configs: Record<string, Config> = { ...CONFIGS, ...(ex ? { [EXERCISE]: { ...CONFIGS.after, impl: ex } } : {}) };
    const services: Record<string, RetrievalService> = {};
    for (const [name, c] of Object.entries(configs)) {
      services[name] = createService(c.impl, corpus.embedder, corpus.index, { k: K, maxItems: c.maxItems, maxWaitMs: c.maxWaitMs });
    }
    return { size, corpus, configs, services, cursor: {} };
  },
  teardown: async (input) => {
    await Promise.all(Object.values(input.services).map((s) => s.close()));
  },
  baseline: 'before',
  headline: { name: THROUGHPUT, unit: 'req/s', better: 'higher', metric: THROUGHPUT },
  variants: Object.fromEntries(Object.keys(CONFIGS).map((name) => [name, (input: Input) => burst(input, name)])),
  exercise: (input) => burst(input, EXERCISE),
  options: { iterations: 4 },
  extras: async (input, ctx) => {
    const { size, corpus, configs } = input;
    const names = Object.keys(configs);
    const trials = new Map<string, Trial[]>(names.map((n) => [n, []]));
    // Interleaved: trial 1 of every variant, then trial 2..., so drift in the machine's load spreads over all of them.
    for (let t = 0; t < size.trials; t++) {
      for (const name of names) trials.get(name)!.push(await closedLoop(corpus, configs[name], size.trialRequests, t * size.trialRequests));
    }
    const metrics: Metric[] = [];
    const points: CurvePoint[] = [];
    for (const name of names) {
      const ts = trials.get(name)!;
      const throughput = measured(THROUGHPUT, 'req/s', ts.map((t) => t.throughput), { variant: name, note: `${size.trials} trials of ${size.trialRequests} requests` });
      const added = measured(ADDED, 'ms', ts.flatMap((t) => t.waits), { variant: name, stat: 'p99' });
      const latency = measured('p99 request latency', 'ms', ts.flatMap((t) => t.totals), { variant: name, stat: 'p99' });
      const perCall = measured('requests per search call', 'requests/call', ts.map((t) => t.perCall), { variant: name });
      metrics.push(throughput, added, latency, perCall);
      const c = configs[name];
      ctx.log(`${name}: ${throughput.value.toFixed(0)} req/s, p99 window wait ${added.value.toFixed(2)} ms, ${perCall.value.toFixed(1)} requests per search call`);
      points.push({ series: name === EXERCISE ? 'exercise' : 'variants', x: added.value, y: throughput.value, label: c.maxItems === 1 ? name : `${name} (N=${c.maxItems} T=${c.maxWaitMs}ms)` });
    }
    if (size.sweep) {
      for (const [n, t] of SWEEP) {
        const p = await closedLoop(corpus, { impl: after, maxItems: n, maxWaitMs: t }, size.trialRequests, 0);
        const added = measured(ADDED, 'ms', p.waits, { stat: 'p99' }).value;
        ctx.log(`sweep N=${n} T=${t}ms: ${p.throughput.toFixed(0)} req/s, p99 window wait ${added.toFixed(2)} ms`);
        points.push({ series: 'micro-batcher sweep', x: added, y: p.throughput, label: `N=${n} T=${t}ms` });
      }
    }
    metrics.push({ name: 'corpus rows', value: corpus.index.n, unit: 'chunks', note: `${corpus.index.dim} dims, float32` });
    return {
      metrics,
      curves: [
        {
          id: 'throughput-vs-added-latency',
          title: `Throughput against the p99 latency the window adds (${CLIENTS} closed-loop clients)`,
          xLabel: 'p99 added latency: time waiting for the window to close (ms)',
          yLabel: 'requests per second',
          points,
        },
      ],
    };
  },
});
