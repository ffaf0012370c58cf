/**
 * The call this lesson carries: the gateway asks one shard for its k best chunks by BM25 and by cosine.
 *
 *   request   k, the query's analysed terms with each term's document frequency over the WHOLE collection, the
 *             collection's document count and total length (a shard must score with the collection's statistics,
 *             shared/index/sharded.ts), and the 100-d float32 query vector (SIF over GloVe-100d)
 *   response  two lists of k (label, score) pairs, best first: BM25 (`text`) and cosine (`dense`)
 *
 * The shard is the engine's: a `Bm25Shard` and a `FlatIndex` over shard 0 of 2 of the first `chunks` Brown chunks
 * (partitioned by `shardOf`, embedded as in t2/11-sharding, whose corpus.ts this reuses), with the collection
 * statistics summed over both shards. `shardHandler` is its RpcHandler: the same function behind every transport.
 */
import { RagError } from '../../shared/errors.ts';
import { Bm25Shard, collectionStats, queryStats, shardOf, type CollectionStats } from '../../shared/index/sharded.ts';
import { FlatIndex } from '../../shared/index/flat.ts';
import type { RpcHandler } from '../../shared/services/rpc.ts';
import { defaultAnalyzer } from '../../shared/text/analyzer.ts';
import type { ScoredLabel } from '../../shared/types.ts';
import { loadWorkload } from '../../t2_memory_storage_optimization/11-sharding/corpus.ts';

/** The method name on every transport. */
export const SEARCH = 'shard.search';

export interface ShardSearchRequest {
  k: number;
  /** Analysed query terms. */
  terms: string[];
  /** Document frequency of each term over the whole collection, parallel to `terms`. */
  df: number[];
  /** Documents in the whole collection. */
  docs: number;
  /** Sum of their lengths (tokens). */
  totalLength: number;
  /** The query embedding. */
  vector: Float32Array;
}

export interface ShardSearchResponse {
  text: ScoredLabel[];
  dense: ScoredLabel[];
}

/** Where the shard answers, per transport. */
export interface ShardEndpoints {
  /** HTTP/JSON (http-rpc.ts's server): `http://127.0.0.1:<port>`. */
  http: string;
  /** gRPC: `127.0.0.1:<port>`, serving `shard.search` with the codec of the module that connects. */
  grpc: string;
}

export interface Shard {
  text: Bm25Shard;
  dense: FlatIndex;
  dim: number;
}

const isInt = (x: unknown, min: number): x is number => typeof x === 'number' && Number.isInteger(x) && x >= min;

/** Checks a decoded request (JSON gives arrays where protobuf gives typed arrays) and returns it in engine types. */
export function checkRequest(req: unknown, dim: number): ShardSearchRequest {
  const r = req as Partial<Record<keyof ShardSearchRequest, unknown>> | null;
  const bad = (why: string) => new RagError('INVALID_INPUT', `${SEARCH}: ${why}`);
  if (!r || typeof r !== 'object') throw bad('the request must be an object');
  if (!isInt(r.k, 1) || r.k > 1000) throw bad(`k must be an integer in [1, 1000], got ${String(r.k)}`);
  if (!Array.isArray(r.terms) || !r.terms.every((t) => typeof t === 'string')) throw bad('terms must be a list of strings');
  const df = r.df as ArrayLike<unknown> | undefined;
  if (!df || typeof df !== 'object' || df.length !== r.terms.length) throw bad(`df must hold one count per term (${r.terms.length}), got ${df?.length ?? 'none'}`);
  for (let i = 0; i < df.length; i++) if (!isInt(df[i], 0)) throw bad(`df[${i}] must be a count, got ${String(df[i])}`);
  if (!isInt(r.docs, 1) || !isInt(r.totalLength, 0)) throw bad('docs (≥ 1) and totalLength (≥ 0) must be integers');
  const v = r.vector as ArrayLike<unknown> | undefined;
  if (!v || typeof v !== 'object' || v.length !== dim) throw bad(`vector must have ${dim} components, got ${v?.length ?? 'none'}`);
  const vector = v instanceof Float32Array ? v : Float32Array.from(v as ArrayLike<number>);
  if (!vector.every(Number.isFinite)) throw bad('vector components must be finite numbers');
  return { k: r.k, terms: r.terms, df: Array.from(df as ArrayLike<number>), docs: r.docs, totalLength: r.totalLength, vector };
}

/** The shard's service: `shard.search` (and nothing else: other methods are NOT_FOUND). */
export function shardHandler(shard: Shard): RpcHandler {
  return async (method, req) => {
    if (method !== SEARCH) throw new RagError('NOT_FOUND', `no method ${method} on the shard (it serves ${SEARCH})`);
    const q = checkRequest(req, shard.dim);
    const df = new Map<string, number>();
    q.terms.forEach((t, i) => df.set(t, q.df[i]));
    const out: ShardSearchResponse = {
      text: q.terms.length > 0 ? shard.text.search(q.terms, q.k, { docs: q.docs, totalLength: q.totalLength, df }) : [],
      dense: shard.dense.search(q.vector, q.k),
    };
    return out;
  };
}

export interface ShardWorkload {
  shard: Shard;
  /** One request per query sentence, with the collection's statistics: what the gateway would send. */
  requests: ShardSearchRequest[];
  /** The query sentences, for messages. */
  queryTexts: string[];
  /** Chunks in this shard and in the collection. */
  held: number;
  total: number;
}

/** Shard `part` of `parts` over the first `chunks` Brown chunks, and `queries` search requests with k = `k`. */
export async function buildShard(opts: { chunks: number; queries: number; k: number; parts?: number; part?: number; log?: (m: string) => void }): Promise<ShardWorkload> {
  const parts = opts.parts ?? 2;
  const part = opts.part ?? 0;
  const w = await loadWorkload({ chunks: opts.chunks, queries: opts.queries, log: opts.log });
  const { texts, matrix, dim } = w.corpus;
  const byPart: number[][] = Array.from({ length: parts }, () => []);
  for (let label = 0; label < texts.length; label++) byPart[shardOf(label, parts)].push(label);
  const shards = byPart.map((labels) => Bm25Shard.build(labels, labels.map((l) => defaultAnalyzer.analyze(texts[l]))));
  const stats: CollectionStats = collectionStats(shards.map((s) => s.termStats()));
  const mine = byPart[part];
  const dense = new FlatIndex({ dim, initialCapacity: Math.max(1, mine.length) });
  dense.add(mine, mine.map((l) => matrix.subarray(l * dim, (l + 1) * dim)));
  const requests = w.queries.map((q): ShardSearchRequest => {
    const qs = queryStats(stats, q.tokens);
    return { k: opts.k, terms: q.tokens.slice(), df: q.tokens.map((t) => qs.df.get(t) ?? 0), docs: qs.docs, totalLength: qs.totalLength, vector: q.vector.slice() };
  });
  return { shard: { text: shards[part], dense, dim }, requests, queryTexts: w.queryTexts, held: mine.length, total: texts.length };
}
