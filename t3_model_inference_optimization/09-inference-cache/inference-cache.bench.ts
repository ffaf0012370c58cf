/**
 * Benchmark for 09-inference-cache: a seeded Zipf query log (s = 1.0; 40% of the queries spelled as a case,
 * white-space or NFKC variant) embedded one query at a time by the seeded encoder (MiniLM-L6's shape in full mode, a
 * small one in quick mode; one intra-op thread), through: no cache (before), a cache keyed by the raw text, the
 * lesson's cache (normalised + versioned key, LRU capped in bytes: after), the same key in an unbounded Map, and two
 * workers with and without Redis as their shared tier.
 * Run: npm run t3 -- --only 09-inference-cache [--quick] [--impl exercise]
 *
 * Headline: encoder calls over the whole log (counted: the same on every machine). Beside it, from one replay of the
 * log per variant (a fresh cache each): hit rate, time per query (the whole embed path: cache, Redis, model), embed
 * time saved against no cache, bytes held by the in-process tier (and its cap), Redis round trips; then a model swap
 * halfway through the log (fp32 → int8, lesson 01's `quantizeMatMulWeights`) counting vectors of the old model
 * served after it. The timed call (tinybench) is one query of the log through each variant's warm cache.
 * Seeded weights: the encoder's outputs carry no meaning; the cache is judged by what it saves and by what it returns.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { defineLesson, EXERCISE, type Metric } from '../../shared/lab/lesson.ts';
import { measured } from '../../shared/lab/metric.ts';
import type { EncoderOptions } from '../../shared/model/encoder.ts';
import { lessonEncoder } from '../../shared/model/lesson-model.ts';
import { quantizeMatMulWeights, quantizeSymmetric } from '../../shared/model/quantize.ts';
import { normalizeEmbeddingText } from '../../shared/serve/cache.ts';
import * as after from './after.ts';
import * as before from './before.ts';
import { counted, dropKeys, encoderModel, redisSkipReason, redisUrl, zipfQueryLog, type CountingModel, type QueryLog } from './data.ts';
import * as rawKey from './wrong/raw-key.ts';
import * as noVersion from './wrong/no-version.ts';
import * as unbounded from './wrong/unbounded-map.ts';

type Mod = typeof after;
const HEADLINE = 'encoder calls on the query log';
const SEEDED = 'seeded encoder: outputs carry no meaning';

interface Size {
  encoder: EncoderOptions;
  label: string;
  queries: number;
  distinct: number;
  /** Byte cap of each in-process tier. */
  capBytes: number;
  /**
   * Queries of the log 'before' (no cache) replays: every query runs the model, so its calls are the log's length by
   * construction; its time per query is measured on this many and scaled to the log. Saves minutes in full mode.
   */
  beforeSample: number;
}

/** How a variant embeds one query: its caches (one per worker) and the model view whose calls it counts. */
interface Setup {
  what: string;
  workers: number;
  make: (ns: string) => after.EmbedCacheLike[];
}

interface Input {
  size: Size;
  log: QueryLog;
  v1: CountingModel;
  v2: CountingModel;
  redis: Redis | undefined;
  namespace: string;
  setups: Record<string, Setup>;
  /** Warm per-variant state for the timed call. */
  timed: Record<string, { caches: after.EmbedCacheLike[]; model: CountingModel; next: number }>;
}

const redisSkip = await redisSkipReason();
const VARIANTS = ['before', 'raw-text key', 'after', 'normalised key, unbounded Map', 'after, 2 workers, no Redis', ...(redisSkip ? [] : ['after + Redis, 2 workers'])];

function setupsFor(size: Size, redis: Redis | undefined, ex: Mod | undefined): Record<string, Setup> {
  const cap = { maxBytes: size.capBytes };
  const s: Record<string, Setup> = {
    before: { what: 'no cache: every query runs the model', workers: 1, make: () => [before.createEmbedCache()] },
    'raw-text key': { what: 'LRU with the byte cap, key = version + the text as sent', workers: 1, make: () => [rawKey.createEmbedCache(cap)] },
    after: { what: 'LRU with the byte cap, key = version + normalised text', workers: 1, make: () => [after.createEmbedCache(cap)] },
    'normalised key, unbounded Map': { what: 'the same key in a Map that never evicts', workers: 1, make: () => [unbounded.createEmbedCache(cap)] },
    'after, 2 workers, no Redis': {
      what: 'two workers (queries dealt in turn), each its own capped LRU',
      workers: 2,
      make: () => [after.createEmbedCache(cap), after.createEmbedCache(cap)],
    },
  };
  if (redis) {
    s['after + Redis, 2 workers'] = {
      what: 'two workers, each its capped LRU, Redis shared (MGET + pipelined SET)',
      workers: 2,
      make: (ns) => [after.createEmbedCache({ ...cap, redis, namespace: ns }), after.createEmbedCache({ ...cap, redis, namespace: ns })],
    };
  }
  if (ex) s[EXERCISE] = { what: 'exercise.ts with the byte cap', workers: 1, make: () => [ex.createEmbedCache(cap)] };
  return s;
}

/** Replay `texts` one query at a time, dealt in turn to the caches; per-query times in ms. */
async function replay(caches: after.EmbedCacheLike[], model: after.Model, texts: string[]): Promise<number[]> {
  const times = new Array<number>(texts.length);
  for (let i = 0; i < texts.length; i++) {
    const t0 = performance.now();
    await caches[i % caches.length].embed(model, [texts[i]]);
    times[i] = performance.now() - t0;
  }
  return times;
}

const sum = (a: number[]) => a.reduce((x, y) => x + y, 0);

export default defineLesson<Size, Input>({
  id: 't3/09-inference-cache',
  title: 'Inference cache: query embeddings keyed by normalised text and model version, LRU capped in bytes, Redis shared',
  workload:
    'a seeded Zipf query log (s = 1.0, 40% case/white-space/NFKC variants) embedded one query at a time by the seeded encoder ' +
    '(random weights: outputs carry no meaning), one intra-op thread. Headline: encoder calls over the log; hit rate, time per query, ' +
    'bytes held and stale vectors after a model swap beside it. The timed call is one query through a warm cache',
  sizes: {
    quick: {
      encoder: { layers: 2, hidden: 128, heads: 4, ffn: 512, vocab: 8_000, maxPositions: 128 },
      label: 'small encoder (2 layers, hidden 128), 4,000 queries over 1,000 distinct',
      queries: 4_000,
      distinct: 1_000,
      capBytes: 256 * 1024,
      beforeSample: 4_000,
    },
    full: { encoder: {}, label: 'MiniLM-L6 shape, 10,000 queries over 2,500 distinct', queries: 10_000, distinct: 2_500, capBytes: 1024 * 1024, beforeSample: 2_000 },
  },
  setup: async (size, ctx) => {
    const enc = await lessonEncoder(size.encoder, size.label.split(',')[0], ctx.model);
    ctx.log(ctx.model ? `running ${enc.label} and its int8 form (the model swap)` : `building the ${size.label.split(',')[0]} with seeded weights, and its int8 form (the model swap)`);
    const fp32 = enc.bytes;
    const int8 = quantizeMatMulWeights(fp32, enc.matmulWeights, { format: 'integer', quantizer: (w, r, c) => quantizeSymmetric(w, r, c, 'column') });
    const vocab = enc.vocab;
    const v1 = await encoderModel(fp32, 'encoder-fp32', vocab);
    const v2 = await encoderModel(int8, 'encoder-int8', vocab);
    const log = zipfQueryLog({ queries: size.queries, distinct: size.distinct, s: 1.0, seed: 2026 });
    let redis: Redis | undefined;
    if (redisSkip) ctx.log(`Redis variant skipped: ${redisSkip}`);
    else {
      redis = new Redis(redisUrl(), { maxRetriesPerRequest: 1 });
      await redis.ping();
    }
    const namespace = `lab09_bench_${randomBytes(4).toString('hex')}`;
    const setups = setupsFor(size, redis, ctx.exercise as Mod | undefined);
    const timed: Input['timed'] = {};
    for (const [name, s] of Object.entries(setups)) timed[name] = { caches: s.make(`${namespace}:timed`), model: counted(v1), next: 0 };
    return { size, log, v1, v2, redis, namespace, setups, timed };
  },
  teardown: async (input) => {
    await input.v1.release();
    await input.v2.release();
    if (input.redis) {
      await dropKeys(input.redis, input.namespace);
      input.redis.disconnect();
    }
  },
  baseline: 'before',
  headline: { name: HEADLINE, unit: 'calls', better: 'lower', metric: HEADLINE },
  variants: Object.fromEntries(
    VARIANTS.map((name) => [
      name,
      (input: Input) => {
        const t = input.timed[name];
        const i = t.next++ % input.log.texts.length;
        return t.caches[i % t.caches.length].embed(t.model, [input.log.texts[i]]);
      },
    ]),
  ),
  exercise: (input) => {
    const t = input.timed[EXERCISE];
    const i = t.next++ % input.log.texts.length;
    return t.caches[0].embed(t.model, [input.log.texts[i]]);
  },
  extras: async (input, ctx) => {
    const { log, size } = input;
    const metrics: Metric[] = [];
    const distinctKeys = new Set(log.texts.map(normalizeEmbeddingText)).size;
    const rawDistinct = new Set(log.texts).size;
    ctx.log(`query log: ${log.texts.length} queries, ${rawDistinct} distinct as sent, ${distinctKeys} distinct normalised (${SEEDED})`);
    let baseTotal: number | undefined;
    for (const [name, s] of Object.entries(input.setups)) {
      const model = counted(input.v1);
      const caches = s.make(`${input.namespace}:${name.replace(/\W+/g, '_')}`);
      ctx.log(`replaying the log: ${name}`);
      const sample = name === 'before' ? Math.min(size.beforeSample, log.texts.length) : log.texts.length;
      const times = await replay(caches, model, log.texts.slice(0, sample));
      const scale = log.texts.length / sample;
      if (scale !== 1) {
        // no cache: every query is one call; the time of the whole log is the sample's, scaled
        model.calls = Math.round(model.calls * scale);
        model.texts = Math.round(model.texts * scale);
      }
      const total = sum(times) * scale;
      baseTotal ??= total; // 'before' runs first
      const held = caches.reduce((a, c) => a + c.bytes, 0);
      const entries = caches.reduce((a, c) => a + c.entries, 0);
      const trips = caches.reduce((a, c) => a + c.stats.redisRoundTrips, 0);
      const v = { variant: name };
      const hit = 1 - model.texts / log.texts.length;
      metrics.push(
        measured(HEADLINE, 'calls', [model.calls], {
          ...v,
          note: `${model.texts} texts embedded for ${log.texts.length} queries (${distinctKeys} distinct normalised, ${rawDistinct} as sent); ${s.what}; ${size.label}`,
        }),
        { name: 'hit rate', value: 100 * hit, unit: '%', ...v, note: `${(100 * hit).toFixed(1)}% of queries answered without the model` },
        measured('time per query', 'ms', times, {
          ...v,
          note: `mean over ${sample === log.texts.length ? `the ${sample} queries of one replay, cold cache at the start` : `the first ${sample} queries (no cache: the log's calls and time scaled from them)`}; ${SEEDED}`,
        }),
        { name: 'embed time saved', value: baseTotal - total, unit: 'ms', ...v, note: `${(baseTotal / 1000).toFixed(2)} s without a cache, ${(total / 1000).toFixed(2)} s here (${(baseTotal / total).toFixed(1)}×), one replay each, machine shared` },
        {
          name: 'bytes held',
          value: held,
          unit: 'bytes',
          ...v,
          note: `${entries} entries in ${s.workers} in-process tier(s) after the log; cap ${size.capBytes.toLocaleString('en-US')} bytes each${name.includes('unbounded') ? ' (ignored)' : ''}`,
        },
      );
      if (trips) metrics.push({ name: 'Redis round trips per query', value: trips / log.texts.length, unit: '', ...v, note: `${trips} round trips (MGET or pipeline) for ${log.texts.length} queries` });
    }
    // a model swap halfway through the log: how many answers after it were computed by the old model?
    const half = Math.floor(log.texts.length / 2);
    for (const [name, create] of [
      ['after', after.createEmbedCache],
      ['unversioned key', noVersion.createEmbedCache],
    ] as const) {
      const cache = create({ maxBytes: size.capBytes });
      const old = counted(input.v1);
      const oldRows = new Map<string, Float32Array>();
      const recording: after.Model = {
        version: old.version,
        embed: async (texts) => {
          const rows = await old.embed(texts);
          texts.forEach((t, i) => oldRows.set(normalizeEmbeddingText(t), rows[i].slice()));
          return rows;
        },
      };
      await replay([cache], recording, log.texts.slice(0, half));
      const fresh = counted(input.v2);
      let stale = 0;
      for (const t of log.texts.slice(half)) {
        const [v] = await cache.embed(fresh, [t]);
        const o = oldRows.get(normalizeEmbeddingText(t));
        if (o && o.every((x, i) => x === v[i])) stale++;
      }
      metrics.push({
        name: 'old-model vectors served after a swap',
        value: stale,
        unit: 'answers',
        variant: name,
        note: `fp32 → int8 after ${half} queries; of the ${log.texts.length - half} answers after the swap, ${stale} were the fp32 model's vectors`,
      });
    }
    return { metrics };
  },
});
