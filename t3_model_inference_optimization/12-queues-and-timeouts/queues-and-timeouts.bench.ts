/**
 * Benchmark for 12-queues-and-timeouts: a steady stream of queries (interactive: one text each, a deadline of
 * `deadlineMs` as `AbortSignal.timeout`) and an ingest flood (bulk: batches of `bulkBatch` passages arriving at
 * `floodFactor` × what the model can embed) share one onnxruntime session of the seeded encoder, one intra-op
 * thread, one run at a time. before: one FIFO, unbounded, no deadlines, every submission run whole. after: a FIFO per
 * priority (interactive first), bulk cut into runs of 8, bounded queues that shed, deadlines that take an expired
 * query out of the queue.
 * Run: npm run t3 -- --only 12-queues-and-timeouts [--quick] [--impl exercise]
 *
 * Headline: the p99 latency of the interactive requests that were answered, from the moment each was due to be sent
 * (its slot in the schedule, so a blocked event loop cannot hide waiting) to its answer. Beside it: p50, how many
 * were refused (503) or timed out (504), how many were answered after their deadline, bulk texts embedded per second
 * and bulk submissions refused, the model's runs and the longest bulk backlog seen. Seeded weights: outputs carry no
 * meaning; this lesson measures waiting, not embeddings. The timed call (the tinybench table) is one query through
 * an idle queue.
 */
import type * as ort from 'onnxruntime-node';
import { defineLesson, EXERCISE, type Metric } from '../../shared/lab/lesson.ts';
import { measured } from '../../shared/lab/metric.ts';
import type { EncoderOptions } from '../../shared/model/encoder.ts';
import { lessonEncoder } from '../../shared/model/lesson-model.ts';
import { openSession, seededTexts, tokenFeeds } from '../../shared/model/session.ts';
import { isRagError } from '../../shared/errors.ts';
import * as after from './after.ts';
import * as before from './before.ts';

type Mod = typeof after;
type Create = Mod['createQueue'];

const HEADLINE = 'interactive p99 under bulk load';
const NOTE = 'seeded encoder: outputs carry no meaning (this lesson measures waiting)';

interface Size {
  encoder: EncoderOptions;
  label: string;
  /** Tokens per query / per ingest passage (seeded lengths in [min, max]). */
  queryTokens: [number, number];
  passageTokens: [number, number];
  /** How long queries and ingest batches keep arriving, ms. */
  windowMs: number;
  /** Queries per second, evenly spaced. */
  interactiveRate: number;
  /** Passages per ingest submission. */
  bulkBatch: number;
  /** Ingest arrival rate ÷ the model's measured bulk capacity (passages/s). */
  floodFactor: number;
  /** Each query's deadline (AbortSignal.timeout), ms. */
  deadlineMs: number;
  /** The after queue's settings. */
  maxQueued: { interactive: number; bulk: number };
  maxBatch: { interactive: number; bulk: number };
}

interface Input {
  size: Size;
  session: ort.InferenceSession;
  queries: number[][];
  passages: number[][];
  /** Passages the model embeds per second in runs of maxBatch.bulk (measured in setup). */
  capacity: number;
  creators: Record<string, Create>;
}

interface LoadResult {
  latencies: number[];
  answered: number;
  sent: number;
  shedInteractive: number;
  timedOut: number;
  pastDeadline: number;
  otherErrors: number;
  bulkSent: number;
  bulkShed: number;
  bulkEmbedded: number;
  bulkSeconds: number;
  runs: number;
  bulkRuns: number;
  largestRun: number;
  peakBulkWaiting: number;
  wallMs: number;
}

/** One model run: one row per token-id list. */
function modelRun(session: ort.InferenceSession, counter?: { runs: number; bulkRuns: number; largest: number }) {
  return async (lists: number[][], info?: { priority: string }): Promise<Float32Array[]> => {
    if (counter) {
      counter.runs++;
      if (info?.priority === 'bulk') counter.bulkRuns++;
      counter.largest = Math.max(counter.largest, lists.length);
    }
    const out = await session.run(tokenFeeds(lists));
    const y = out[session.outputNames[0]];
    const data = y.data as Float32Array;
    const dim = data.length / lists.length;
    const rows: Float32Array[] = [];
    for (let r = 0; r < lists.length; r++) rows.push(data.slice(r * dim, (r + 1) * dim));
    y.dispose();
    return rows;
  };
}

/** Queries at `interactiveRate` and ingest batches at `floodFactor` × capacity for `windowMs`, through one queue. */
async function load(input: Input, create: Create): Promise<LoadResult> {
  const { size } = input;
  const counter = { runs: 0, bulkRuns: 0, largest: 0 };
  const queue = create<number[], Float32Array>({ run: modelRun(input.session, counter), maxQueued: size.maxQueued, maxBatch: size.maxBatch });
  const r: LoadResult = {
    latencies: [],
    answered: 0,
    sent: 0,
    shedInteractive: 0,
    timedOut: 0,
    pastDeadline: 0,
    otherErrors: 0,
    bulkSent: 0,
    bulkShed: 0,
    bulkEmbedded: 0,
    bulkSeconds: 0,
    runs: 0,
    bulkRuns: 0,
    largestRun: 0,
    peakBulkWaiting: 0,
    wallMs: 0,
  };
  const pending: Promise<unknown>[] = [];
  const t0 = performance.now();
  let lastBulkDone = t0;
  const queryGap = 1000 / size.interactiveRate;
  const bulkGap = (1000 * size.bulkBatch) / (size.floodFactor * input.capacity);
  let nextQuery = 0;
  let nextBulk = 0;
  let qi = 0;
  let pi = 0;

  const sendQuery = (due: number) => {
    r.sent++;
    const text = input.queries[qi++ % input.queries.length];
    pending.push(
      queue.submit([text], { priority: 'interactive', signal: AbortSignal.timeout(size.deadlineMs) }).then(
        () => {
          const ms = performance.now() - due;
          r.answered++;
          r.latencies.push(ms);
          if (ms > size.deadlineMs) r.pastDeadline++;
        },
        (err: unknown) => {
          if (isRagError(err, 'OVERLOADED')) r.shedInteractive++;
          else if (isRagError(err, 'DEADLINE_EXCEEDED')) r.timedOut++;
          else r.otherErrors++;
        },
      ),
    );
  };
  const sendBulk = () => {
    r.bulkSent++;
    const batch: number[][] = [];
    for (let k = 0; k < size.bulkBatch; k++) batch.push(input.passages[pi++ % input.passages.length]);
    pending.push(
      queue.submit(batch, { priority: 'bulk' }).then(
        (rows) => {
          r.bulkEmbedded += rows.length;
          lastBulkDone = performance.now();
        },
        (err: unknown) => {
          if (isRagError(err, 'OVERLOADED')) r.bulkShed++;
          else r.otherErrors++;
        },
      ),
    );
  };

  // the schedule: every query and batch that was due by now is sent (late ones keep their due time)
  await new Promise<void>((resolve) => {
    const tick = () => {
      const now = performance.now() - t0;
      while (nextQuery <= now && nextQuery < size.windowMs) {
        sendQuery(t0 + nextQuery);
        nextQuery += queryGap;
      }
      while (nextBulk <= now && nextBulk < size.windowMs) {
        sendBulk();
        nextBulk += bulkGap;
      }
      r.peakBulkWaiting = Math.max(r.peakBulkWaiting, queue.stats().queued.bulk);
      if (now >= size.windowMs) resolve();
      else setTimeout(tick, Math.max(0, Math.min(t0 + nextQuery, t0 + nextBulk) - performance.now()));
    };
    tick();
  });
  const sampler = setInterval(() => (r.peakBulkWaiting = Math.max(r.peakBulkWaiting, queue.stats().queued.bulk)), 20);
  await Promise.all(pending);
  clearInterval(sampler);
  r.wallMs = performance.now() - t0;
  r.bulkSeconds = (lastBulkDone - t0) / 1000;
  r.runs = counter.runs;
  r.bulkRuns = counter.bulkRuns;
  r.largestRun = counter.largest;
  return r;
}

export default defineLesson<Size, Input>({
  id: 't3/12-queues-and-timeouts',
  title: 'Queues and timeouts: one unbounded FIFO vs priorities, bounded queues that shed, and deadlines, in front of one model',
  workload:
    'a steady stream of one-text queries (interactive, each with a deadline) and an ingest flood (bulk batches at twice what the model can embed) ' +
    'sharing one onnxruntime session of the seeded encoder (one thread; outputs carry no meaning). Headline: the p99 of the answered queries, ' +
    'from when each was due; beside it shed, timed-out and past-deadline counts and bulk throughput. The timed call is one query on an idle queue',
  sizes: {
    quick: {
      encoder: { layers: 2, hidden: 128, heads: 4, ffn: 512, vocab: 8_000, maxPositions: 128 },
      label: 'small encoder (2 layers, hidden 128, FFN 512, vocabulary 8,000)',
      queryTokens: [6, 16],
      passageTokens: [32, 64],
      windowMs: 2_500,
      interactiveRate: 100,
      bulkBatch: 64,
      floodFactor: 2,
      deadlineMs: 1_000,
      maxQueued: { interactive: 64, bulk: 256 },
      maxBatch: { interactive: 8, bulk: 8 },
    },
    full: {
      encoder: {},
      label: 'MiniLM-L6 shape (6 layers, hidden 384, FFN 1536, vocabulary 30,522)',
      queryTokens: [6, 16],
      passageTokens: [32, 64],
      windowMs: 10_000,
      interactiveRate: 50,
      bulkBatch: 32,
      floodFactor: 2,
      deadlineMs: 1_000,
      maxQueued: { interactive: 64, bulk: 128 },
      maxBatch: { interactive: 8, bulk: 8 },
    },
  },
  setup: async (size, ctx) => {
    const enc = await lessonEncoder(size.encoder, size.label, ctx.model);
    ctx.log(ctx.model ? `running ${enc.label}` : `building the ${size.label} with seeded weights`);
    const model = enc.bytes;
    const session = await openSession(model);
    const vocab = enc.vocab;
    const queries = seededTexts(500, vocab, size.queryTokens[0], size.queryTokens[1], 7);
    const passages = seededTexts(2_000, vocab, size.passageTokens[0], size.passageTokens[1], 8);
    const run = modelRun(session);
    await run(queries.slice(0, 8));
    // the model's bulk capacity: passages per second in runs of maxBatch.bulk (the flood is a multiple of it)
    const b = size.maxBatch.bulk;
    await run(passages.slice(0, b));
    const t0 = performance.now();
    const rounds = 6;
    for (let k = 0; k < rounds; k++) await run(passages.slice(k * b, (k + 1) * b));
    const capacity = (rounds * b * 1000) / (performance.now() - t0);
    ctx.log(`bulk capacity ≈ ${capacity.toFixed(0)} passages/s in runs of ${b}; the flood sends ${(size.floodFactor * capacity).toFixed(0)}/s`);
    const creators: Record<string, Create> = { before: before.createQueue, after: after.createQueue };
    const ex = ctx.exercise as Mod | undefined;
    if (ex) creators[EXERCISE] = ex.createQueue;
    return { size, session, queries, passages, capacity, creators };
  },
  teardown: async (input) => {
    await input.session.release();
  },
  baseline: 'before',
  headline: { name: HEADLINE, unit: 'ms', better: 'lower', metric: HEADLINE },
  variants: {
    before: (input) => before.createQueue({ run: modelRun(input.session) }).submit([input.queries[0]], { priority: 'interactive' }),
    after: (input) => after.createQueue({ run: modelRun(input.session) }).submit([input.queries[0]], { priority: 'interactive' }),
  },
  exercise: (input) => (input.creators[EXERCISE] as Create)({ run: modelRun(input.session) }).submit([input.queries[0]], { priority: 'interactive' }),
  // the per-call table is not the headline: a few calls per variant keep the run short
  options: { iterations: 5, time: 50, warmupTime: 20 },
  extras: async (input, ctx) => {
    const { size } = input;
    const metrics: Metric[] = [];
    const load0 = `${size.interactiveRate} queries/s (deadline ${size.deadlineMs} ms) + ${size.bulkBatch}-passage batches at ${size.floodFactor}× capacity (${(size.floodFactor * input.capacity).toFixed(0)} passages/s) for ${size.windowMs / 1000} s; ${size.label}`;
    for (const [variant, create] of Object.entries(input.creators)) {
      ctx.log(`load: ${load0}, through ${variant}`);
      let r: LoadResult;
      try {
        r = await load(input, create);
      } catch (err) {
        if (variant !== EXERCISE) throw err;
        ctx.log(`exercise: load failed: ${(err as Error).message}`);
        continue;
      }
      const v = { variant };
      if (r.latencies.length === 0) {
        ctx.log(`${variant}: no query was answered (${r.shedInteractive} shed, ${r.timedOut} timed out)`);
        continue;
      }
      metrics.push(
        measured(HEADLINE, 'ms', r.latencies, { ...v, stat: 'p99', note: `${r.answered} of ${r.sent} queries answered; from each query's due time; ${load0}; ${NOTE}` }),
        measured('interactive p50 under bulk load', 'ms', r.latencies, { ...v, stat: 'median' }),
        { name: 'interactive shed (503)', value: r.shedInteractive, unit: 'requests', ...v, note: `of ${r.sent}` },
        { name: 'interactive timed out (504)', value: r.timedOut, unit: 'requests', ...v, note: `of ${r.sent}; left the queue at the deadline` },
        { name: 'interactive answered past the deadline', value: r.pastDeadline, unit: 'requests', ...v, note: `answered more than ${size.deadlineMs} ms after they were due` },
        {
          name: 'bulk throughput',
          value: r.bulkEmbedded / Math.max(r.bulkSeconds, 1e-3),
          unit: 'passages/s',
          ...v,
          note: `${r.bulkEmbedded} passages embedded in ${r.bulkSeconds.toFixed(1)} s (to the last bulk answer); capacity measured ${input.capacity.toFixed(0)}/s`,
        },
        { name: 'bulk submissions shed (503)', value: r.bulkShed, unit: 'batches', ...v, note: `of ${r.bulkSent} (${size.bulkBatch} passages each)` },
        { name: 'bulk passages waiting, peak', value: r.peakBulkWaiting, unit: 'passages', ...v, note: variant === 'before' ? 'unbounded' : `bound ${size.maxQueued.bulk}` },
        { name: 'model runs', value: r.runs, unit: 'runs', ...v, note: `${r.bulkRuns} bulk; largest ${r.largestRun} texts` },
        { name: 'load wall time', value: r.wallMs, unit: 'ms', ...v, note: `window ${size.windowMs} ms, then until every request was answered` },
      );
      if (r.otherErrors > 0) metrics.push({ name: 'requests failed otherwise', value: r.otherErrors, unit: 'requests', ...v });
    }
    return { metrics };
  },
});
