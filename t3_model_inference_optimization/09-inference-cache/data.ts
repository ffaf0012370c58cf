/**
 * What the checkpoint and the benchmark of 09-inference-cache share: a text tokenizer for the seeded encoder, the
 * encoder as a versioned model that counts its calls, a seeded Zipf query log with case / white-space / NFKC variants,
 * and the Redis probe.
 *
 * Seeded weights: the encoder's outputs carry no meaning. The cache is judged by what it avoids (encoder calls, time)
 * and by never returning a vector other than the one the model gives for the text as sent.
 */
import { Redis } from 'ioredis';
import type * as ort from 'onnxruntime-node';
import { buildEncoderModel, type EncoderOptions } from '../../shared/model/encoder.ts';
import { openSession, tokenFeeds } from '../../shared/model/session.ts';
import { mulberry32 } from '../../shared/util/random.ts';
import type { Model } from './after.ts';

/**
 * The tokenizer the lesson's encoder reads text with: NFKC, lower case, split on white space, each word hashed
 * (FNV-1a) to an id in 1..vocab−1, at most `maxTokens` words. An uncased tokenizer of this kind makes every case,
 * white-space and NFKC variant of a text the same ids: that, and only that, is what a cache key may normalise away.
 */
export function wordIds(text: string, vocab: number, maxTokens = 64): number[] {
  const words = text.normalize('NFKC').toLowerCase().split(/\s+/).filter(Boolean).slice(0, maxTokens);
  return words.map((w) => {
    let h = 0x811c9dc5;
    for (let i = 0; i < w.length; i++) h = Math.imul(h ^ w.charCodeAt(i), 0x01000193);
    return 1 + ((h >>> 0) % (vocab - 1));
  });
}

/** A model that counts what it is asked: `calls` (runs) and `texts` (texts embedded). */
export interface CountingModel extends Model {
  calls: number;
  texts: number;
  release(): Promise<void>;
}

/** One ONNX session as a versioned model: texts → `wordIds` → one run → one row per text (copies). */
export async function encoderModel(bytes: Uint8Array, version: string, vocab: number): Promise<CountingModel> {
  const session: ort.InferenceSession = await openSession(bytes);
  const model: CountingModel = {
    version,
    calls: 0,
    texts: 0,
    async embed(texts: string[]): Promise<Float32Array[]> {
      model.calls++;
      model.texts += texts.length;
      const out = await session.run(tokenFeeds(texts.map((t) => wordIds(t, vocab))));
      const y = out[session.outputNames[0]];
      const data = y.data as Float32Array;
      const dim = data.length / texts.length;
      const rows = texts.map((_, i) => data.slice(i * dim, (i + 1) * dim));
      y.dispose();
      return rows;
    },
    release: () => session.release(),
  };
  return model;
}

/** A view of `model` with its own counts (same version, same session): one per variant of the bench. */
export function counted(model: Model): CountingModel {
  const c: CountingModel = {
    version: model.version,
    calls: 0,
    texts: 0,
    embed(texts: string[]) {
      c.calls++;
      c.texts += texts.length;
      return model.embed(texts);
    },
    release: async () => {},
  };
  return c;
}

/** Build and load the seeded encoder of `opts` as model `version`. */
export function seededEncoder(opts: EncoderOptions, version: string): Promise<CountingModel> {
  return encoderModel(buildEncoderModel(opts), version, opts.vocab ?? 30_522);
}

export interface QueryLogOptions {
  /** Queries in the log. */
  queries: number;
  /** Distinct queries (before variants) they are drawn from. */
  distinct: number;
  /** Zipf exponent: query of rank r is asked ∝ 1 / r^s. Default 1.0. */
  s?: number;
  /** Share of queries sent as a variant (case, white space, NFKC) of their query's usual spelling. Default 0.4. */
  variantShare?: number;
  seed?: number;
}

export interface QueryLog {
  /** The queries as users sent them, in order. */
  texts: string[];
  /** Index (0 = most asked) of the distinct query behind each one. */
  ranks: number[];
  /** The distinct queries in their usual spelling. */
  distinct: string[];
}

const FULLWIDTH: Record<string, string> = { a: '\uff41', e: '\uff45', o: '\uff4f', '1': '\uff11', '2': '\uff12' };

/** A variant a tokenizer of `wordIds`' kind reads as the same text: other case, extra white space, NFKC forms. */
function variant(q: string, rand: () => number): string {
  let v = q;
  const pick = rand();
  if (pick < 0.3) v = v.toUpperCase();
  else if (pick < 0.6) v = v.replace(/\b\w/g, (c) => c.toUpperCase());
  if (rand() < 0.5) v = v.replace(/ /g, () => (rand() < 0.3 ? '  ' : rand() < 0.5 ? '\u00a0' : ' '));
  if (rand() < 0.3) v = ` ${v}\t`;
  if (rand() < 0.3) v = v.replace(/[aeo12]/, (c) => FULLWIDTH[c] ?? c); // fullwidth forms: NFKC maps them back
  if (rand() < 0.2) v = v.replace(/fi/, '\ufb01'); // the "ﬁ" ligature: NFKC gives "fi"
  return v === q ? `${q} ` : v;
}

/**
 * A seeded query log: `queries` draws from `distinct` queries (3-7 words of a seeded pseudo-vocabulary, a few with
 * digits), the one of rank r with probability ∝ 1/r^s; a share of them spelled as a variant. Same options, same log.
 */
export function zipfQueryLog(opts: QueryLogOptions): QueryLog {
  const s = opts.s ?? 1.0;
  const share = opts.variantShare ?? 0.4;
  const rand = mulberry32(opts.seed ?? 2026);
  const syll = ['ra', 'ge', 'fi', 'to', 'mel', 'an', 'dor', 'si', 'ku', 'ne', 'lo', 'be', 'tra', 'vi', 'so', 'em'];
  const word = () => Array.from({ length: 2 + Math.floor(rand() * 3) }, () => syll[Math.floor(rand() * syll.length)]).join('');
  const words = Array.from({ length: 2_000 }, word);
  const seen = new Set<string>();
  const distinct: string[] = [];
  while (distinct.length < opts.distinct) {
    const n = 3 + Math.floor(rand() * 5);
    let q = Array.from({ length: n }, () => words[Math.floor(rand() * words.length)]).join(' ');
    if (rand() < 0.1) q += ` ${1 + Math.floor(rand() * 30)}`;
    if (!seen.has(q)) {
      seen.add(q);
      distinct.push(q);
    }
  }
  const cdf = new Float64Array(opts.distinct);
  let total = 0;
  for (let r = 0; r < opts.distinct; r++) cdf[r] = total += 1 / (r + 1) ** s;
  const texts: string[] = [];
  const ranks: number[] = [];
  for (let i = 0; i < opts.queries; i++) {
    const u = rand() * total;
    let lo = 0;
    let hi = opts.distinct - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid] < u) lo = mid + 1;
      else hi = mid;
    }
    ranks.push(lo);
    texts.push(rand() < share ? variant(distinct[lo], rand) : distinct[lo]);
  }
  return { texts, ranks, distinct };
}

export const redisUrl = (): string => process.env.REDIS_URL || 'redis://127.0.0.1:6379';

/** Why Redis cannot be used (unreachable), with how to start it; undefined when it answers PING. */
export async function redisSkipReason(url = redisUrl()): Promise<string | undefined> {
  const r = new Redis(url, { lazyConnect: true, connectTimeout: 1_000, maxRetriesPerRequest: 0, retryStrategy: () => null });
  let cause: Error | undefined;
  r.on('error', (err: Error) => (cause ??= err));
  try {
    await r.connect();
    await r.ping();
    return undefined;
  } catch (err) {
    return `Redis unreachable at ${url} (${(cause ?? (err as Error)).message || 'no answer'}): start it with \`redis-server --daemonize yes\`, or set REDIS_URL`;
  } finally {
    r.disconnect();
  }
}

/** Delete every key under `prefix` (the lesson's namespaced keys) with SCAN + UNLINK. */
export async function dropKeys(redis: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
    cursor = next;
    if (keys.length) await redis.unlink(...keys);
  } while (cursor !== '0');
}
