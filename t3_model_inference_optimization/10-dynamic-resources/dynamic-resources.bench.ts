/**
 * Benchmark for 10-dynamic-resources: the seeded encoder (MiniLM-L6's shape in full mode, a small one in quick mode)
 * served under a closed-loop load of 1, 4 and 16 concurrent clients by: one session in the main thread with
 * onnxruntime's default threads (before); the planned sessions, but in the main thread
 * (`wrong/sessions-in-main-thread.ts`: their runs never overlap, onnxruntime-node's native run being synchronous on
 * the calling thread); one worker-thread session per core each at the default threads (oversubscribed:
 * `wrong/sessions-default-threads.ts`); and the sessions × threads `planResources` chooses for each load, each in a
 * worker thread (after, re-planned per load: ≤ cores in total).
 * Run: npm run t3 -- --only 10-dynamic-resources [--quick] [--impl exercise]
 *
 * Headline: throughput at 16 concurrent clients (texts/s). Beside it: throughput per core and p99 latency at each
 * load, texts per CPU-second (the whole process's CPU time, worker threads included: what a core-second buys,
 * robust to other load on the machine), and the longest event-loop stall (the longest gap between ticks of a 1 ms
 * setInterval: how long the main thread could not answer anything). A client sends a request of `batch` seeded token-id lists (seq
 * `seq`), waits for it, sends the next; each load runs `requests` requests per trial, the variants in rotation within
 * a trial. Seeded weights: outputs carry no meaning (the checkpoint compares a pool's rows with one session's). The
 * timed call is a burst of 4 requests at once.
 */
import { defineLesson, EXERCISE, type Metric, type VariantFn } from '../../shared/lab/lesson.ts';
import { measured } from '../../shared/lab/metric.ts';
import type { EncoderOptions } from '../../shared/model/encoder.ts';
import { lessonEncoder } from '../../shared/model/lesson-model.ts';
import { availableCores } from '../../shared/model/resources.ts';
import { seededTexts } from '../../shared/model/session.ts';
import { percentile } from '../../shared/util/stats.ts';
import * as after from './after.ts';
import * as before from './before.ts';
import type { EncoderPool, PoolOptions } from './data.ts';
import * as oversubscribed from './wrong/sessions-default-threads.ts';
import * as mainThread from './wrong/sessions-in-main-thread.ts';

type Open = (model: Uint8Array, opts: PoolOptions) => Promise<EncoderPool>;

const HEADLINE = 'throughput at 16 concurrent';
const LOADS = [1, 4, 16];
const NOTE = 'seeded weights: outputs carry no meaning';

interface Size {
  encoder: EncoderOptions;
  label: string;
  seq: number;
  batch: number;
  /** Requests per load per trial. */
  requests: number;
  trials: number;
}

interface Input {
  size: Size;
  cores: number;
  /** variant → load → pool (pools with the same plan are shared). */
  pools: Record<string, Record<number, EncoderPool>>;
  requests: number[][][];
  cursor: number;
}

const VARIANTS: Record<string, { open: Open; what: string }> = {
  before: { open: before.openPool, what: "one session in the main thread, onnxruntime's default intra-op threads (one per core), every request on it" },
  'planned, in the main thread': { open: mainThread.openPool, what: 'planResources per load, FIFO queue, but every session in the main thread: runs one after another, event loop blocked during each' },
  'sessions per core × default threads': { open: oversubscribed.openPool, what: "min(load, cores) worker-thread sessions, each at onnxruntime's default threads: oversubscribed" },
  after: { open: after.openPool, what: 'planResources per load: sessions × threads ≤ cores, each session in a worker thread, one request per session, FIFO queue' },
};

function nextRequest(input: Input): number[][] {
  return input.requests[input.cursor++ % input.requests.length];
}

/** `clients` closed-loop clients sharing `total` requests; returns the wall time and every request's latency. */
async function closedLoop(input: Input, pool: EncoderPool, clients: number, total: number): Promise<{ ms: number; cpuMs: number; latencies: number[]; stallMs: number }> {
  let left = total;
  const latencies: number[] = [];
  // the longest gap between ticks of a 1 ms interval: how long the main thread could not run a callback
  let lastTick = performance.now();
  let stallMs = 0;
  const ticker = setInterval(() => {
    const now = performance.now();
    stallMs = Math.max(stallMs, now - lastTick);
    lastTick = now;
  }, 1);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (left > 0) {
        left--;
        const s = performance.now();
        await pool.embed(nextRequest(input));
        latencies.push(performance.now() - s);
      }
    }),
  );
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  clearInterval(ticker);
  stallMs = Math.max(stallMs, performance.now() - lastTick);
  return { ms, cpuMs: (cpu.user + cpu.system) / 1000, latencies, stallMs };
}

const burst = (input: Input, name: string) => Promise.all(Array.from({ length: 4 }, () => input.pools[name][4].embed(nextRequest(input))));

export default defineLesson<Size, Input>({
  id: 't3/10-dynamic-resources',
  title: 'Dynamic resources: sessions × intra-op threads planned from the load and the cores vs defaults',
  workload:
    `closed-loop clients (1, 4, 16) each sending requests of 4 seeded token-id lists (seq 64) to the seeded encoder (random weights: outputs carry no meaning) on ${availableCores()} cores; ` +
    'headline: texts/s at 16 concurrent; throughput per core, texts per CPU-second, longest event-loop stall and p99 at each load beside it',
  sizes: {
    quick: { encoder: { layers: 2, hidden: 128, heads: 4, ffn: 512, vocab: 8_000, maxPositions: 128 }, label: 'small encoder (2 layers, hidden 128, FFN 512)', seq: 64, batch: 4, requests: 24, trials: 2 },
    full: { encoder: {}, label: 'MiniLM-L6 shape (6 layers, hidden 384, FFN 1536)', seq: 64, batch: 4, requests: 24, trials: 2 },
  },
  setup: async (size, ctx) => {
    const enc = await lessonEncoder(size.encoder, size.label, ctx.model);
    ctx.log(ctx.model ? `running ${enc.label}` : `building the ${size.label} with seeded weights`);
    const model = enc.bytes;
    const cores = availableCores();
    const opens: Record<string, Open> = Object.fromEntries(Object.entries(VARIANTS).map(([k, v]) => [k, v.open]));
    const ex = ctx.exercise as typeof after | undefined;
    if (ex) opens[EXERCISE] = ex.openPool;
    const pools: Record<string, Record<number, EncoderPool>> = {};
    for (const [name, open] of Object.entries(opens)) {
      pools[name] = {};
      const byPlan = new Map<string, EncoderPool>();
      for (const load of LOADS) {
        const pool = await open(model, { concurrency: load, batch: size.batch, cores });
        const key = `${pool.sessions}x${pool.intraOpThreads}`;
        const same = byPlan.get(key);
        if (same) await pool.close();
        else byPlan.set(key, pool);
        pools[name][load] = same ?? pool;
        ctx.log(`${name} at ${load} concurrent: ${pool.sessions} session(s) × ${pool.intraOpThreads || 'default'} intra-op thread(s)`);
      }
    }
    const vocab = enc.vocab;
    const requests = Array.from({ length: 32 }, (_, i) => seededTexts(size.batch, vocab, size.seq, size.seq, 900 + i));
    return { size, cores, pools, requests, cursor: 0 };
  },
  teardown: async (input) => {
    for (const byLoad of Object.values(input.pools)) for (const p of new Set(Object.values(byLoad))) await p.close();
  },
  baseline: 'before',
  headline: { name: HEADLINE, unit: 'texts/s', better: 'higher', metric: HEADLINE },
  variants: Object.fromEntries(Object.keys(VARIANTS).map((name) => [name, ((input: Input) => burst(input, name)) as VariantFn<Input>])),
  exercise: (input) => burst(input, EXERCISE),
  options: { iterations: 3, rounds: 2 },
  extras: async (input, ctx) => {
    const { size, cores } = input;
    const names = Object.keys(input.pools);
    const metrics: Metric[] = [];
    for (const load of LOADS) {
      ctx.log(`closed loop: ${load} client(s), ${size.requests} requests × ${size.trials} trials per variant, in rotation`);
      const rates = new Map<string, number[]>(names.map((n) => [n, []]));
      const lat = new Map<string, number[]>(names.map((n) => [n, []]));
      const perCpu = new Map<string, number[]>(names.map((n) => [n, []]));
      const stalls = new Map<string, number[]>(names.map((n) => [n, []]));
      for (const name of names) await closedLoop(input, input.pools[name][load], load, load); // warm-up
      for (let t = 0; t < size.trials; t++) {
        for (const name of names) {
          const r = await closedLoop(input, input.pools[name][load], load, size.requests);
          rates.get(name)!.push((size.requests * size.batch * 1000) / r.ms);
          lat.get(name)!.push(...r.latencies);
          perCpu.get(name)!.push((size.requests * size.batch * 1000) / r.cpuMs);
          stalls.get(name)!.push(r.stallMs);
        }
      }
      for (const name of names) {
        const pool = input.pools[name][load];
        const what = name === EXERCISE ? 'exercise.ts' : VARIANTS[name].what;
        const plan = `${pool.sessions} session(s) × ${pool.intraOpThreads || 'default'} thread(s)`;
        const note = `${plan}; ${what}; ${size.label}, requests of ${size.batch} × ${size.seq} tokens, ${cores} cores; ${NOTE}`;
        const r = rates.get(name)!;
        metrics.push(
          measured(`throughput at ${load} concurrent`, 'texts/s', r, { variant: name, note: `mean of ${size.trials} trials of ${size.requests} requests; ${note}` }),
          measured(`throughput per core at ${load} concurrent`, 'texts/s', r.map((x) => x / cores), { variant: name, note: `÷ ${cores} cores` }),
          measured(`texts per CPU-second at ${load} concurrent`, 'texts/s', perCpu.get(name)!, {
            variant: name,
            note: "texts ÷ this process's user + system CPU time (process.cpuUsage, onnxruntime's threads included): the work a core-second buys, whatever else the machine runs",
          }),
          measured(`longest event-loop stall at ${load} concurrent`, 'ms', stalls.get(name)!, {
            variant: name,
            note: 'the longest gap between two ticks of a 1 ms setInterval during a trial, mean over trials: a run in the main thread blocks it for the whole native run; worker threads leave it to the scheduler',
          }),
          measured(`p99 at ${load} concurrent`, 'ms', lat.get(name)!, { variant: name, stat: 'p99', note: `${lat.get(name)!.length} requests; median ${percentile(Float64Array.from(lat.get(name)!).sort(), 50).toFixed(1)} ms; ${plan}` }),
        );
      }
    }
    return { metrics };
  },
});
