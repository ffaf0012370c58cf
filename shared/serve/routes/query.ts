/**
 * POST /v1/query {query, k?, mode?, filter?, answer?} → {hits, answer, timings, version}
 *
 * The hot path: results cache lookup first (a hit sends the stored serialized body: no engine work, no
 * JSON.stringify, and no load-shedding check); a miss is admitted or shed (load-shedding.ts), runs the engine under
 * the deadline, serializes once with the route's compiled response schema and stores that string. Header
 * `x-cache: memory | redis | miss` says which.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { RetrievalMode } from '../../engine.ts';
import type { MetadataFilter } from '../../retrieve/filter.ts';
import { withDeadline } from '../deadline.ts';
import { keyedErrors, queryBody, queryResponse } from '../schemas.ts';
import type { RouteContext } from './context.ts';

interface QueryBody {
  query: string;
  k?: number;
  mode?: RetrievalMode;
  filter?: MetadataFilter;
  answer?: boolean;
}

const JSON_TYPE = 'application/json; charset=utf-8';
const STAGES = ['analyze', 'bm25', 'embed', 'dense', 'fuse', 'answer', 'total'] as const;

export function registerQueryRoute(app: FastifyInstance, ctx: RouteContext): void {
  const { cache, metrics, shedding, replica } = ctx;
  app.post(
    '/v1/query',
    {
      // open unless reads are keyed; counted in the read budget (access.ts)
      config: { access: 'read', budget: 'read' },
      schema: {
        summary: 'Retrieve the top-k chunks for a query and a cited answer',
        body: queryBody,
        response: { 200: queryResponse, ...keyedErrors },
      },
    },
    async (request: FastifyRequest<{ Body: QueryBody }>, reply) => {
      // the engine and its version together: a hot update swaps both between two requests (replica.ts), and a query
      // that started on the old engine finishes there and says the old version
      const eng = replica.engine;
      const v = replica.version;
      if (!eng || ctx.closing) return shedding.refuse(reply, ctx.closing ? 'shutting_down' : 'not_ready', 'the index is not loaded yet');
      const body = request.body;
      const k = body.k ?? 10;
      const mode = body.mode ?? 'hybrid';
      const wantAnswer = body.answer ?? true;
      const key = cache?.key(body.query, k, wantAnswer ? mode : `${mode}-noanswer`, body.filter);
      if (key !== undefined) {
        const hit = cache!.get(key);
        if (hit !== undefined) return reply.type(JSON_TYPE).header('x-cache', 'memory').send(hit);
      }
      const refused = shedding.admit(reply);
      if (refused) return refused;
      try {
        if (key !== undefined) {
          const shared = await cache!.getShared(key);
          if (shared !== undefined) return reply.type(JSON_TYPE).header('x-cache', 'redis').send(shared);
        }
        const abort = new AbortController();
        const result = await withDeadline(
          reply,
          eng.query(body.query, { k, mode, filter: body.filter, answer: wantAnswer, signal: abort.signal }),
          ctx.deadlineMs,
          abort,
        );
        for (const s of STAGES) {
          const ms = result.timings[s];
          if (ms !== undefined) metrics.stage.observe({ stage: s }, ms / 1000);
        }
        const serialize = reply.getSerializationFunction('200')!;
        const serialized = serialize({ ...result, version: v });
        if (key !== undefined) cache!.set(key, serialized);
        return reply.type(JSON_TYPE).header('x-cache', 'miss').send(serialized);
      } finally {
        shedding.release();
      }
    },
  );
}
