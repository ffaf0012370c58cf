/**
 * A results page over HTTP, two ways over **one resolver layer**: REST (versioned under /v1, described in the
 * OpenAPI document by @fastify/swagger, errors as RFC 9457 `application/problem+json`) and GraphQL (mercurius, at
 * POST /graphql). Both call the same `ResultsResolvers`: how a page of ids is found (the cursor) and how each hit's
 * document and chunks are fetched (one store look-up per hit, or batched) is decided there, once, for both.
 *
 *     GET  /v1/results?first=20&after=<cursor>&genre=news[&include=document,chunks]
 *            → {items: [{id, document?, chunks?}], page: {endCursor, hasNextPage}}
 *     GET  /v1/documents/:id          → {id, title, metadata, chunkCount}; 404 problem+json
 *     GET  /v1/documents/:id/chunks   → {id, chunks: [{position, text}]}
 *     POST /graphql  { results(first: 20, after: $c, genre: "news") { nodes { id title metadata { key value }
 *                      chunkCount chunks { position text } } pageInfo { endCursor hasNextPage } } }
 *
 * A bad request never reaches the store: REST answers 400 problem+json (`{type, title, status, detail, instance,
 * code}`; Ajv names the field: "querystring.first must be <= 100"), GraphQL an error whose `extensions.code` is
 * 'BAD_USER_INPUT' (HTTP 400, no data). A bad cursor is the resolvers' to refuse (cursor.ts: CursorError).
 *
 * `createResultsServer({ resolvers })` is a Fastify instance with the engine's error formatting
 * (shared/serve/http-errors.ts) and OpenAPI route (shared/serve/routes/openapi.ts) and these routes;
 * `createBatchedResolvers(store)` is the resolver layer with keyset cursors and per-request DataLoaders (the fast
 * one); `ApiClient` is a keep-alive HTTP client that counts its round trips; `fetchPageGraphQL` gets one page in one.
 */
import DataLoader from 'dataloader';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyPluginAsync, type FastifyReply, type FastifyRequest } from 'fastify';
import mercurius, { type MercuriusContext, type MercuriusOptions } from 'mercurius';
import pLimit from 'p-limit';
import { Pool } from 'undici';
import { isRagError, RagError } from '../errors.ts';
import { errorBody, formatValidation, httpStatusOf } from '../serve/http-errors.ts';
import { registerOpenApi } from '../serve/routes/openapi.ts';
import type { Metadata } from '../types.ts';
import { CursorCodec } from './cursor.ts';
import type { ChunkPreview, DocStore, DocSummary } from './doc-store.ts';

/** Most hits one page may ask for. */
export const MAX_PAGE = 100;
/** Chunk previews a row shows. */
export const CHUNKS_PER_ROW = 3;

export interface PageArgs {
  /** Hits on the page, 1..MAX_PAGE. */
  first: number;
  /** The `endCursor` of the previous page; absent for the first page. */
  after?: string;
  /** Only documents of this genre (metadata.genre). */
  genre?: string;
}

/** A page of hit ids and where the next one starts. */
export interface PageOfIds {
  ids: string[];
  endCursor: string | null;
  hasNextPage: boolean;
}

/**
 * What REST and GraphQL resolve a results page with. `context()` is called once per HTTP request (one REST call, one
 * GraphQL operation): whatever lives for one request (a DataLoader and its cache) lives there.
 */
export interface ResultsResolvers<C = unknown> {
  context(): C;
  /** Throws a RagError 'INVALID_INPUT' (e.g. cursor.ts's CursorError) for a cursor it cannot use, before any look-up. */
  page(args: PageArgs, ctx: C): Promise<PageOfIds>;
  document(id: string, ctx: C): Promise<DocSummary | null>;
  chunks(id: string, ctx: C): Promise<ChunkPreview[]>;
}

/** One row of a results page as a client shows it. */
export interface ResultRow {
  id: string;
  title: string;
  metadata: Metadata;
  chunkCount: number;
  chunks: ChunkPreview[];
}

export interface ResultsPage {
  rows: ResultRow[];
  endCursor: string | null;
  hasNextPage: boolean;
}

/**
 * Input a resolver refuses (a cursor it cannot use, an argument out of range): REST answers 400 problem+json with
 * `code` = `reason`, GraphQL an error with `extensions.code` 'BAD_USER_INPUT'. (cursor.ts's CursorError, a RagError
 * 'INVALID_INPUT' too, is answered the same way.)
 */
export class InputError extends RagError {
  constructor(
    message: string,
    readonly reason = 'INVALID_INPUT',
  ) {
    super('INVALID_INPUT', message);
    this.name = 'InputError';
  }
}

// --- the resolver layer: keyset cursors + per-request DataLoaders -------------------------------------------------

/** The listing a cursor belongs to, from its filters. */
export function pageScope(args: Pick<PageArgs, 'genre'>): string {
  return args.genre === undefined ? '' : `genre=${args.genre}`;
}

export interface BatchedContext {
  documents: DataLoader<string, DocSummary | null>;
  chunks: DataLoader<string, ChunkPreview[]>;
}

/**
 * The fast resolver layer: a page is the ids after the cursor's key (keyset: an insert or delete before the boundary
 * does not move it), the cursor is signed and scoped (cursor.ts), and each hit's document and chunks go through
 * DataLoaders made per request: every look-up asked for in one tick becomes one store call (`getDocuments(ids)`),
 * and nothing is cached past the request (a later request sees later writes).
 */
export function createBatchedResolvers(store: DocStore, opts: { cursors?: CursorCodec } = {}): ResultsResolvers<BatchedContext> {
  const cursors = opts.cursors ?? new CursorCodec();
  return {
    context: () => ({
      documents: new DataLoader(async (ids: readonly string[]) => (await store.getDocuments(ids)).map((d) => d ?? null)),
      chunks: new DataLoader((ids: readonly string[]) => store.getChunks(ids, CHUNKS_PER_ROW)),
    }),
    async page(args) {
      const scope = pageScope(args);
      const afterId = args.after === undefined ? undefined : cursors.decode(args.after, scope).after;
      const { ids, more } = await store.list({ first: args.first, afterId, genre: args.genre });
      const last = ids.at(-1);
      return { ids, hasNextPage: more, endCursor: last === undefined ? null : cursors.encode({ after: last, scope }) };
    },
    document: (id, ctx) => ctx.documents.load(id),
    chunks: (id, ctx) => ctx.chunks.load(id),
  };
}

// --- problem+json ---------------------------------------------------------------------------------------------------

/** The RFC 9457 problem document of an error answer. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  instance?: string;
  /** A stable machine-readable code: 'INVALID_CURSOR', 'INVALID_INPUT', 'NOT_FOUND', … */
  code?: string;
}

export const PROBLEM_TYPE = 'application/problem+json';

export function problemOf(err: FastifyError | Error, instance?: string): Problem {
  const { status, message } = httpStatusOf(err as never, 1024 * 1024);
  const reason = (err as { reason?: unknown }).reason;
  const code = typeof reason === 'string' ? reason : isRagError(err) ? err.code : (err as { validation?: unknown }).validation ? 'INVALID_INPUT' : undefined;
  return {
    type: code ? `https://rag-perf-lab.dev/problems/${code.toLowerCase().replace(/_/g, '-')}` : 'about:blank',
    title: errorBody(status, '').error,
    status,
    detail: status === 500 ? 'internal error' : message,
    ...(instance ? { instance } : {}),
    ...(code ? { code } : {}),
  };
}

function sendProblem(err: FastifyError | Error, request: FastifyRequest, reply: FastifyReply): void {
  const p = problemOf(err, request.url);
  if (p.status >= 500) request.log.error({ err, url: request.url }, 'request failed');
  void reply.code(p.status).type(PROBLEM_TYPE).send(JSON.stringify(p));
}

// --- the routes -----------------------------------------------------------------------------------------------------

const problemSchema = {
  type: 'object',
  description: 'RFC 9457 problem details (content type application/problem+json)',
  properties: {
    type: { type: 'string' },
    title: { type: 'string' },
    status: { type: 'integer' },
    detail: { type: 'string' },
    instance: { type: 'string' },
    code: { type: 'string' },
  },
} as const;

const documentSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    title: { type: 'string' },
    metadata: { type: 'object', additionalProperties: { type: ['string', 'number', 'boolean'] } },
    chunkCount: { type: 'integer' },
  },
} as const;

const chunkSchema = { type: 'object', properties: { position: { type: 'integer' }, text: { type: 'string' } } } as const;

const resultsQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    first: { type: 'integer', minimum: 1, maximum: MAX_PAGE, default: 20, description: `Hits on the page, 1–${MAX_PAGE}. Default 20` },
    after: { type: 'string', minLength: 1, description: "The previous page's page.endCursor, unchanged (opaque)" },
    genre: { type: 'string', minLength: 1, maxLength: 64, description: 'Only documents of this genre' },
    include: { type: 'string', pattern: '^(document|chunks)(,(document|chunks))?$', description: "'document', 'chunks' or both: embed them in each item" },
  },
} as const;

export const GRAPHQL_SCHEMA = /* GraphQL */ `
  type Meta { key: String!, value: String! }
  type Chunk { position: Int!, text: String! }
  type Document {
    id: ID!
    title: String!
    "metadata as key/value pairs; value is JSON text"
    metadata: [Meta!]!
    chunkCount: Int!
    "the first ${CHUNKS_PER_ROW} chunks"
    chunks: [Chunk!]!
  }
  type PageInfo { endCursor: String, hasNextPage: Boolean! }
  type ResultPage { nodes: [Document]!, pageInfo: PageInfo! }
  type Query {
    "documents in id order, first 1-${MAX_PAGE}, after: the previous page's pageInfo.endCursor"
    results(first: Int! = 20, after: String, genre: String): ResultPage!
    document(id: ID!): Document
  }
`;

/** The query a results page needs, all of it, in one request. */
export const RESULTS_PAGE_QUERY = /* GraphQL */ `
  query Page($first: Int!, $after: String, $genre: String) {
    results(first: $first, after: $after, genre: $genre) {
      nodes { id title metadata { key value } chunkCount chunks { position text } }
      pageInfo { endCursor hasNextPage }
    }
  }
`;

function badInput(message: string, reason = 'INVALID_INPUT'): InstanceType<typeof mercurius.ErrorWithProps> {
  return new mercurius.ErrorWithProps(message, { code: 'BAD_USER_INPUT', reason }, 400);
}

/** RagError 'INVALID_INPUT' (a bad cursor) → a GraphQL error with extensions.code 'BAD_USER_INPUT'. */
async function graphqlErrors<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    if (isRagError(err, 'INVALID_INPUT')) throw badInput(err.message, (err as { reason?: string }).reason ?? 'INVALID_INPUT');
    throw err;
  }
}

type DocParent = DocSummary;

/**
 * Registers the REST routes and POST /graphql on `app`, in their own scope (their errors are problem+json, whatever
 * the rest of the app answers). Both resolve through `resolvers`.
 */
export async function registerResultsApi<C>(app: FastifyInstance, resolvers: ResultsResolvers<C>): Promise<void> {
  await app.register(async (scope) => {
    scope.setErrorHandler(sendProblem);
    scope.setNotFoundHandler((request, reply) => sendProblem(new RagError('NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]}`), request, reply));

    scope.get(
      '/v1/results',
      {
        schema: {
          summary: 'A page of results in id order; pass page.endCursor as `after` for the next page',
          querystring: resultsQuery,
          response: {
            200: {
              type: 'object',
              properties: {
                items: {
                  type: 'array',
                  items: { type: 'object', properties: { id: { type: 'string' }, document: documentSchema, chunks: { type: 'array', items: chunkSchema } } },
                },
                page: { type: 'object', properties: { endCursor: { type: ['string', 'null'] }, hasNextPage: { type: 'boolean' } } },
              },
            },
            '4xx': problemSchema,
          },
        },
      },
      async (request: FastifyRequest<{ Querystring: PageArgs & { include?: string } }>) => {
        const { first, after, genre, include } = request.query;
        const ctx = resolvers.context();
        const page = await resolvers.page({ first, after, genre }, ctx);
        const want = new Set((include ?? '').split(',').filter(Boolean));
        const items = await Promise.all(
          page.ids.map(async (id) => ({
            id,
            ...(want.has('document') ? { document: (await resolvers.document(id, ctx)) ?? undefined } : {}),
            ...(want.has('chunks') ? { chunks: await resolvers.chunks(id, ctx) } : {}),
          })),
        );
        return { items, page: { endCursor: page.endCursor, hasNextPage: page.hasNextPage } };
      },
    );

    const idParams = { type: 'object', required: ['id'], properties: { id: { type: 'string', minLength: 1, maxLength: 512 } } } as const;
    scope.get(
      '/v1/documents/:id',
      { schema: { summary: "One hit's document: title, metadata, chunk count", params: idParams, response: { 200: documentSchema, '4xx': problemSchema } } },
      async (request: FastifyRequest<{ Params: { id: string } }>) => {
        const doc = await resolvers.document(request.params.id, resolvers.context());
        if (!doc) throw new RagError('NOT_FOUND', `no document with id ${JSON.stringify(request.params.id)}`);
        return doc;
      },
    );
    scope.get(
      '/v1/documents/:id/chunks',
      {
        schema: {
          summary: "One hit's first chunks",
          params: idParams,
          response: { 200: { type: 'object', properties: { id: { type: 'string' }, chunks: { type: 'array', items: chunkSchema } } }, '4xx': problemSchema },
        },
      },
      async (request: FastifyRequest<{ Params: { id: string } }>) => ({ id: request.params.id, chunks: await resolvers.chunks(request.params.id, resolvers.context()) }),
    );

    // the per-request resolver context rides on mercurius's context (built by `context` below, once per request)
    const own = (ctx: MercuriusContext): C => (ctx as unknown as { r: C }).r;
    const graphql: MercuriusOptions = {
      schema: GRAPHQL_SCHEMA,
      path: '/graphql',
      graphiql: false,
      context: () => ({ r: resolvers.context() }),
      resolvers: {
        Query: {
          results: async (_root: unknown, args: { first: number; after?: string | null; genre?: string | null }, ctx: MercuriusContext) => {
            if (!Number.isInteger(args.first) || args.first < 1 || args.first > MAX_PAGE) throw badInput(`first must be 1–${MAX_PAGE}, got ${args.first}`);
            if (args.genre !== null && args.genre !== undefined && (args.genre.length === 0 || args.genre.length > 64)) throw badInput('genre must be 1–64 characters');
            const pageArgs: PageArgs = { first: args.first, after: args.after ?? undefined, genre: args.genre ?? undefined };
            const page = await graphqlErrors(() => resolvers.page(pageArgs, own(ctx)));
            return { ids: page.ids, pageInfo: { endCursor: page.endCursor, hasNextPage: page.hasNextPage } };
          },
          document: (_root: unknown, args: { id: string }, ctx: MercuriusContext) => resolvers.document(args.id, own(ctx)),
        },
        ResultPage: {
          nodes: (parent: { ids: string[] }, _args: unknown, ctx: MercuriusContext) => parent.ids.map((id) => resolvers.document(id, own(ctx))),
        },
        Document: {
          metadata: (parent: DocParent) => Object.entries(parent.metadata).map(([key, value]) => ({ key, value: JSON.stringify(value) })),
          chunks: (parent: DocParent, _args: unknown, ctx: MercuriusContext) => resolvers.chunks(parent.id, own(ctx)),
        },
      },
    };
    // mercurius's declared plugin type and Fastify 5's register overloads disagree on the return type only
    await scope.register(mercurius as unknown as FastifyPluginAsync<MercuriusOptions>, graphql);
  });
}

export interface ResultsServer {
  app: FastifyInstance;
  /** http://127.0.0.1:<port> once listening. */
  url: string;
  close(): Promise<void>;
}

/** A Fastify server with the results API (and GET /openapi.json), listening on 127.0.0.1, an ephemeral port. */
export async function createResultsServer<C>(opts: { resolvers: ResultsResolvers<C>; logLevel?: string }): Promise<ResultsServer> {
  const app = Fastify({
    logger: { level: opts.logLevel ?? process.env.LOG_LEVEL ?? 'warn' },
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', allErrors: false, useDefaults: true } },
    schemaErrorFormatter: (errors, dataVar) => formatValidation(errors as never, dataVar),
  }) as unknown as FastifyInstance;
  await registerOpenApi(app);
  await registerResultsApi(app, opts.resolvers);
  await app.ready();
  await app.listen({ port: 0, host: '127.0.0.1' });
  const addr = app.server.address();
  const url = typeof addr === 'object' && addr ? `http://127.0.0.1:${addr.port}` : String(addr);
  return { app, url, close: () => app.close() };
}

// --- the client -----------------------------------------------------------------------------------------------------

export interface ApiAnswer {
  status: number;
  contentType: string;
  body: unknown;
}

/**
 * A keep-alive HTTP client (undici Pool) for one server that counts its round trips. `addedRttMs` makes every
 * request wait that long while holding one of the `connections` slots, before it is sent: a client one network
 * round trip away (a browser holds 6 connections per host over HTTP/1.1), on a loopback server.
 */
export class ApiClient {
  private readonly pool: Pool;
  private readonly addedRttMs: number;
  private readonly slots: <T>(fn: () => Promise<T>) => Promise<T>;
  /** Requests sent (each one a client round trip). */
  roundTrips = 0;

  constructor(
    readonly base: string,
    opts: { connections?: number; addedRttMs?: number } = {},
  ) {
    const connections = opts.connections ?? 16;
    this.pool = new Pool(base, { connections, pipelining: 1 });
    this.addedRttMs = opts.addedRttMs ?? 0;
    this.slots = this.addedRttMs > 0 ? pLimit(connections) : (fn) => fn();
  }

  request(method: 'GET' | 'POST', path: string, body?: unknown): Promise<ApiAnswer> {
    this.roundTrips++;
    return this.slots(async () => {
      if (this.addedRttMs > 0) await new Promise((resolve) => setTimeout(resolve, this.addedRttMs));
      const res = await this.pool.request({
        method,
        path,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.body.text();
      const contentType = String(res.headers['content-type'] ?? '');
      let parsed: unknown = text;
      if (contentType.includes('json') && text.length > 0) parsed = JSON.parse(text);
      return { status: res.statusCode, contentType, body: parsed };
    });
  }

  get(path: string): Promise<ApiAnswer> {
    return this.request('GET', path);
  }

  post(path: string, body: unknown): Promise<ApiAnswer> {
    return this.request('POST', path, body);
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}

/** An error answer as a client sees it: the problem document, or the GraphQL errors. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly body: unknown,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** Throws ApiError unless the answer is 2xx. */
export function expectOk(ans: ApiAnswer, what: string): unknown {
  if (ans.status >= 200 && ans.status < 300) return ans.body;
  const b = ans.body as { detail?: string; errors?: { message: string }[] };
  throw new ApiError(ans.status, `${what}: ${ans.status} ${b?.detail ?? b?.errors?.[0]?.message ?? String(ans.body)}`, ans.body);
}

interface GqlDocument {
  id: string;
  title: string;
  metadata: { key: string; value: string }[];
  chunkCount: number;
  chunks: ChunkPreview[];
}

/** One results page in one round trip: POST /graphql with RESULTS_PAGE_QUERY. */
export async function fetchPageGraphQL(client: ApiClient, args: PageArgs): Promise<ResultsPage> {
  const ans = await client.post('/graphql', { query: RESULTS_PAGE_QUERY, variables: { first: args.first, after: args.after ?? null, genre: args.genre ?? null } });
  const body = expectOk(ans, 'POST /graphql') as { data?: { results: { nodes: (GqlDocument | null)[]; pageInfo: { endCursor: string | null; hasNextPage: boolean } } }; errors?: { message: string }[] };
  if (!body.data || body.errors?.length) throw new ApiError(ans.status, `POST /graphql: ${body.errors?.[0]?.message ?? 'no data'}`, body);
  const r = body.data.results;
  return {
    rows: r.nodes
      .filter((n): n is GqlDocument => n !== null)
      .map((n) => ({
        id: n.id,
        title: n.title,
        metadata: Object.fromEntries(n.metadata.map((m) => [m.key, JSON.parse(m.value) as Metadata[string]])),
        chunkCount: n.chunkCount,
        chunks: n.chunks,
      })),
    endCursor: r.pageInfo.endCursor,
    hasNextPage: r.pageInfo.hasNextPage,
  };
}

/** The query string of GET /v1/results for `args` (and `include`). */
export function resultsPath(args: PageArgs, include?: string): string {
  const q = new URLSearchParams({ first: String(args.first) });
  if (args.after !== undefined) q.set('after', args.after);
  if (args.genre !== undefined) q.set('genre', args.genre);
  if (include) q.set('include', include);
  return `/v1/results?${q}`;
}
