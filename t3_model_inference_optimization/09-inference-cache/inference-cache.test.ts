/**
 * Checkpoint for 09-inference-cache. `npm run checkpoint -- 09-inference-cache` runs it against exercise.ts; plain
 * `npx vitest run` checks before.ts (no cache: only "the right vector" applies) and after.ts.
 *
 * The model: a tiny seeded encoder (2 layers, hidden 32; shared/model/encoder.ts) reading text through `wordIds`
 * (NFKC, lower case, white-space split, hashed word ids), as version "v1"; "v2" is the same shape with other seeded
 * weights. Seeded weights: outputs carry no meaning; what is checked is that the cache returns exactly what the model
 * returns, and what it saves, in counts: model runs, bytes held, Redis round trips. The log: 3,000 queries over 600
 * distinct ones, Zipf s = 1.0, 40% of them spelled as a case / white-space / NFKC variant.
 *
 * Checked: every answer equals the model's vector for the text as sent (≤ 1e-6); a caller's in-place change to its
 * vector does not come back on the next hit; over the log the model embeds each distinct normalised query once; after
 * the model changes from v1 to v2 no v1 vector is returned; the in-process tier never holds more than its byte cap;
 * with Redis (127.0.0.1:6379 or REDIS_URL; skipped with a message when absent) a second worker gets the first one's
 * vectors without running the model, one batch costs at most two round trips, and v2 never reads v1's entries.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { implementations } from '../../shared/lab/checkpoint.ts';
import { TINY_ENCODER } from '../../shared/model/encoder.ts';
import { normalizeEmbeddingText } from '../../shared/serve/cache.ts';
import { dropKeys, redisSkipReason, redisUrl, seededEncoder, zipfQueryLog, type CountingModel } from './data.ts';

type Mod = typeof import('./after.ts');

const LOG = zipfQueryLog({ queries: 3_000, distinct: 600, s: 1.0, seed: 9 });
const DISTINCT_KEYS = new Set(LOG.texts.map(normalizeEmbeddingText)).size;
const CAP = 40_000;
const TOLERANCE = 1e-6;

const redisSkip = await redisSkipReason();
if (redisSkip) console.warn(`09-inference-cache: Redis part skipped: ${redisSkip}`);

/** Reference models (never given to a cache: their counts stay theirs) and the vectors they give. */
let ref1: CountingModel;
let ref2: CountingModel;
const memo = new Map<string, Float32Array>();
async function expected(model: CountingModel, text: string): Promise<Float32Array> {
  const k = `${model.version}\u0001${text}`;
  let v = memo.get(k);
  if (!v) {
    [v] = await model.embed([text]);
    memo.set(k, v);
  }
  return v;
}
function maxDiff(a: Float32Array, b: Float32Array): number {
  let m = a.length === b.length ? 0 : Infinity;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}
const show = (t: string) => JSON.stringify(t);

const V2 = { ...TINY_ENCODER, seed: 4242 };
beforeAll(async () => {
  ref1 = await seededEncoder(TINY_ENCODER, 'v1');
  ref2 = await seededEncoder(V2, 'v2');
});
afterAll(async () => {
  await ref1?.release();
  await ref2?.release();
});

/** A Redis client that counts the commands sent on it (a pipeline counts one). */
function countingRedis(r: Redis): { client: Redis; sent: () => number } {
  let n = 0;
  const client = new Proxy(r, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver);
      if (typeof v !== 'function' || prop === 'on' || prop === 'once' || prop === 'emit' || prop === 'removeListener') return v;
      return (...args: unknown[]) => {
        if (typeof prop === 'string' && /^(get|getBuffer|mget|mgetBuffer|set|setBuffer|mset|pipeline|multi|exists|hget|hgetBuffer|hset)$/.test(prop)) n++;
        return (v as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { client, sent: () => n };
}

describe.each(await implementations<Mod>(import.meta.url))('%s', (name, impl) => {
  let model: CountingModel;
  beforeAll(async () => {
    model = await seededEncoder(TINY_ENCODER, 'v1');
  });
  afterAll(() => model?.release());

  it('returns for every query the vector the model gives for the text as sent (one at a time and in batches)', async () => {
    const cache = impl.createEmbedCache({ maxBytes: 1 << 24 });
    const texts = LOG.texts.slice(0, 400);
    for (const t of texts) {
      const [v] = await cache.embed(model, [t]);
      const d = maxDiff(v, await expected(ref1, t));
      expect(d, `${show(t)}: the cache returned a vector ${d.toExponential(2)} away from the model's for that text`).toBeLessThanOrEqual(TOLERANCE);
    }
    for (let i = 0; i < texts.length; i += 32) {
      const batch = LOG.texts.slice(400 + i, 432 + i).concat(texts.slice(i, i + 8)); // new texts, cached ones, repeats
      const rows = await cache.embed(model, batch);
      expect(rows.length, `a batch of ${batch.length} texts got ${rows.length} rows`).toBe(batch.length);
      for (let j = 0; j < batch.length; j++) {
        const d = maxDiff(rows[j], await expected(ref1, batch[j]));
        expect(d, `batch row ${j} ${show(batch[j])}: ${d.toExponential(2)} away from the model's vector for that text`).toBeLessThanOrEqual(TOLERANCE);
      }
    }
  });

  it("does not let a caller's in-place change to its vector come back on the next hit", async () => {
    const cache = impl.createEmbedCache({ maxBytes: 1 << 24 });
    const q = LOG.distinct[0];
    const [mine] = await cache.embed(model, [q]);
    for (let i = 0; i < mine.length; i++) mine[i] *= 2; // e.g. a weighted hybrid score scaling the query in place
    const [again] = await cache.embed(model, [q]);
    const [third] = await cache.embed(model, [` ${q.toUpperCase()} `]);
    for (const v of [again, third]) {
      const d = maxDiff(v, await expected(ref1, q));
      expect(d, `after a caller's in-place change (×2) to its vector of ${show(q)}, the next hit returned it changed (${d.toExponential(2)} away): the cache hands out the Float32Array it keeps`).toBeLessThanOrEqual(TOLERANCE);
    }
  });

  describe.skipIf(name === 'before')('the cache', () => {
    it(`embeds each of the log's ${DISTINCT_KEYS} distinct normalised queries once over ${LOG.texts.length} queries`, async () => {
      const cache = impl.createEmbedCache({ maxBytes: 1 << 26 });
      const m = await seededEncoder(TINY_ENCODER, 'v1');
      try {
        for (const t of LOG.texts) await cache.embed(m, [t]);
        const hitRate = 1 - m.texts / LOG.texts.length;
        expect(
          m.texts,
          `the model embedded ${m.texts} texts for ${DISTINCT_KEYS} distinct queries (after NFKC, case and white space; hit rate ${(100 * hitRate).toFixed(1)}%): ` +
            `${m.texts - DISTINCT_KEYS} variants of a query already cached missed the cache`,
        ).toBeLessThanOrEqual(DISTINCT_KEYS);
      } finally {
        await m.release();
      }
    });

    it('returns no vector of the old model after the model changes (v1 → v2)', async () => {
      const cache = impl.createEmbedCache({ maxBytes: 1 << 24 });
      const m2 = await seededEncoder(V2, 'v2');
      try {
        const texts = LOG.distinct.slice(0, 100);
        await cache.embed(model, texts);
        for (const t of texts.slice(0, 50)) await cache.embed(model, [t]);
        let stale = 0;
        let wrong = 0;
        for (const t of texts) {
          const [v] = await cache.embed(m2, [t]);
          if (maxDiff(v, await expected(ref1, t)) <= TOLERANCE) stale++;
          else if (maxDiff(v, await expected(ref2, t)) > TOLERANCE) wrong++;
        }
        expect(stale, `${stale} of ${texts.length} vectors asked of model v2 were computed by the old model (v1): the key does not name the model version`).toBe(0);
        expect(wrong, `${wrong} of ${texts.length} vectors asked of v2 are neither v2's nor v1's`).toBe(0);
      } finally {
        await m2.release();
      }
    });

    it(`never holds more than its byte cap (${CAP.toLocaleString('en-US')} bytes) over the log`, async () => {
      const cache = impl.createEmbedCache({ maxBytes: CAP });
      let most = 0;
      for (let i = 0; i < LOG.texts.length; i++) {
        await cache.embed(model, [LOG.texts[i]]);
        most = Math.max(most, cache.bytes);
        if (cache.bytes > CAP) {
          expect.fail(`bytes held ${cache.bytes.toLocaleString('en-US')} (${cache.entries} entries) after ${i + 1} queries, over the ${CAP.toLocaleString('en-US')}-byte cap: the in-process tier is not bounded in bytes`);
        }
      }
      expect(cache.entries, 'the cache kept nothing').toBeGreaterThan(10);
      expect(most, `bytes held never passed half the cap (${most}): are entries counted?`).toBeGreaterThan(CAP / 2);
    });

    describe.skipIf(Boolean(redisSkip))(redisSkip ? `Redis (skipped: ${redisSkip})` : 'Redis, the shared tier', () => {
      let redis: Redis;
      const ns = `lab09_${randomBytes(4).toString('hex')}_${name.replace(/\W/g, '_')}`;
      beforeAll(async () => {
        redis = new Redis(redisUrl(), { maxRetriesPerRequest: 1 });
        await redis.ping();
      });
      afterAll(async () => {
        if (!redis) return;
        await dropKeys(redis, ns);
        redis.disconnect();
      });

      it('gives a second worker the first one’s vectors without running the model, ≤ 2 round trips a batch, none across versions', async () => {
        const a = countingRedis(redis);
        const b = countingRedis(redis);
        const workerA = impl.createEmbedCache({ maxBytes: 1 << 24, redis: a.client, namespace: ns });
        const workerB = impl.createEmbedCache({ maxBytes: 1 << 24, redis: b.client, namespace: ns });
        const texts = LOG.distinct.slice(100, 132);
        const mA = await seededEncoder(TINY_ENCODER, 'v1');
        const mB = await seededEncoder(TINY_ENCODER, 'v1');
        const m2 = await seededEncoder(V2, 'v2');
        try {
          await workerA.embed(mA, texts);
          expect(a.sent(), `${a.sent()} Redis round trips for one batch of ${texts.length} texts, bound 2 (one MGET to read, one pipeline to write)`).toBeLessThanOrEqual(2);
          const variants = texts.map((t) => `  ${t.toUpperCase()}`);
          const rows = await workerB.embed(mB, variants);
          expect(b.sent(), `${b.sent()} Redis round trips for one batch of ${texts.length} texts, bound 2 (one MGET)`).toBeLessThanOrEqual(2);
          expect(mB.texts, `worker B ran the model on ${mB.texts} of ${texts.length} texts worker A had computed and stored in Redis`).toBe(0);
          for (let i = 0; i < texts.length; i++) {
            expect(maxDiff(rows[i], await expected(ref1, texts[i])), `${show(variants[i])} from Redis differs from the model's vector`).toBeLessThanOrEqual(TOLERANCE);
          }
          const rows2 = await workerB.embed(m2, texts);
          const stale = rows2.filter((v, i) => maxDiff(v, memo.get(`v1\u0001${texts[i]}`)!) <= TOLERANCE).length;
          expect(stale, `${stale} of ${texts.length} vectors asked of v2 came from v1's entries (in Redis or memory): computed by the old model`).toBe(0);
          expect(m2.texts, 'v2 should have embedded every text itself').toBe(texts.length);
        } finally {
          await Promise.all([mA.release(), mB.release(), m2.release()]);
        }
      });
    });
  });
});
