/**
 * The plumbing every version of this lesson's query service shares: a Fastify app on 127.0.0.1 answering
 *
 *   POST /query {"q": "<text>", "k": 10}  → 200 {"version": "<index version>", "hits": [{chunkId, docId, score, scores}]}
 *   GET  /healthz                         → 200 {"version": "<index version>"}
 *
 * from an `Engine` (shared/engine.ts: BM25 + exact dense search, hybrid fusion), and building such an engine from a
 * version of the corpus. before.ts, after.ts and exercise.ts differ in what `update` does and in what a request reads.
 *
 * Every response names the index version it was answered from, so a client can check that the hits really are that
 * version's (the checkpoint does: a response whose hits match neither version mixed them).
 */
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import { createEngine, type Engine, type EngineConfig, type QueryResult } from '../../shared/engine.ts';
import type { Doc, Embedder } from '../../shared/types.ts';

export interface ServiceOptions {
  /** Fitted once and frozen (no `fit`): every index version embeds with the same model, as a long-lived service does. */
  embedder: Embedder;
  /** Engine settings for every index version. Default: exact dense search, no LLM. */
  engine?: EngineConfig;
  /** Port to listen on. Default 0: a free one (kept across restarts). */
  port?: number;
}

export interface HitOut {
  chunkId: string;
  docId: string;
  score: number;
  scores: { bm25?: number; dense?: number };
}

export interface QueryResponse {
  /** The index version the hits come from. */
  version: string;
  hits: HitOut[];
}

export interface HotService {
  /** http://127.0.0.1:<port> */
  readonly url: string;
  /** The index version new requests are answered from. */
  readonly version: string;
  /**
   * Serve `docs` as index version `version` from now on; resolves once new requests are answered from it. Updates run
   * one at a time, in call order.
   */
  update(docs: readonly Doc[], version: string): Promise<void>;
  /** Stop listening, let requests in flight finish, release the port. */
  close(): Promise<void>;
}

/** What a request is answered from: an engine and the name of the index version it holds. */
export interface Live {
  readonly engine: Engine;
  readonly version: string;
}

/**
 * What a request does with the served index, and how an update makes the next one: after.ts's are the defaults of
 * its `startService`, and a wrong solution (wrong/*.ts) passes the one part it gets wrong.
 */
export interface ServiceParts {
  /** Answers one POST /query; `live()` reads the service's reference to the index being served. */
  query(live: () => Live, body: QueryBody, reply: FastifyReply): Promise<unknown>;
  /** The index to serve as `version` once it resolves, given the one being served now. */
  rebuild(current: Live, docs: readonly Doc[], version: string, opts: ServiceOptions): Promise<Live>;
}

/** The largest k a request may ask for. */
export const MAX_K = 50;

/** A new engine holding `docs`: what "rebuild the index" means in this lesson (chunk, analyse, embed, index). */
export async function buildEngine(docs: readonly Doc[], opts: ServiceOptions): Promise<Engine> {
  const engine = await createEngine({ llm: null, vector: { kind: 'flat' }, ...opts.engine, embedder: opts.embedder });
  await engine.ingest([...docs]);
  return engine;
}

/** The response body for a query result answered from index `version`. */
export function toResponse(version: string, result: QueryResult): QueryResponse {
  return {
    version,
    hits: result.hits.map((h) => ({ chunkId: h.chunkId, docId: h.docId, score: h.score, scores: h.scores })),
  };
}

/** Query `engine` (hybrid, no answer) and name the version in the response. */
export async function answer(engine: Engine, version: string, q: string, k: number): Promise<QueryResponse> {
  return toResponse(version, await engine.query(q, { k, answer: false }));
}

export interface QueryBody {
  q: string;
  k?: number;
}

/** Fastify's JSON schema for POST /query. */
export const queryBodySchema = {
  type: 'object',
  required: ['q'],
  additionalProperties: false,
  properties: { q: { type: 'string', minLength: 1, maxLength: 1024 }, k: { type: 'integer', minimum: 1, maximum: MAX_K } },
} as const;

/** A Fastify app without routes (no request logging). */
export function createApp(): FastifyInstance {
  return Fastify({ logger: false });
}

/** Listens on 127.0.0.1:`port` (0: a free port); returns the port. */
export async function listen(app: FastifyInstance, port = 0): Promise<number> {
  await app.listen({ port, host: '127.0.0.1' });
  const address = app.server.address();
  if (address === null || typeof address === 'string') throw new Error('the server has no TCP address');
  return address.port;
}
