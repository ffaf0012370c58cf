/**
 * POST   /v1/documents       {documents: [{id, text, title?, metadata?}]} → {version, documents, chunks, replaced}
 * DELETE /v1/documents/:id   → {version, removed}; 404 for an unknown id
 *
 * Each write goes to the write path (writes.ts) and is acknowledged once every replica applied it, with the index
 * version it produced.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { RagError } from '../../errors.ts';
import type { Doc } from '../../types.ts';
import { withDeadline } from '../deadline.ts';
import { commonErrors, deleteParams, ingestBody, writeResponse } from '../schemas.ts';
import { outcomeError, type WriteOp } from '../writes.ts';
import type { RouteContext } from './context.ts';

export function registerDocumentRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const submitWrite = async (reply: FastifyReply, op: WriteOp) => {
    if (!ctx.replica.engine || ctx.closing) {
      return ctx.shedding.refuse(reply, ctx.closing ? 'shutting_down' : 'not_ready', 'the index is not loaded yet');
    }
    const ack = await withDeadline(reply, ctx.writes.submit(op), ctx.writeDeadlineMs);
    const err = outcomeError(ack.outcome);
    if (err) throw err;
    // the write is applied on every replica; make sure this one answers with its version before acknowledging
    ctx.replica.moveTo(ack.version);
    return { version: ack.version, ...(ack.outcome as { result: object }).result };
  };

  app.post(
    '/v1/documents',
    {
      schema: {
        summary: 'Add or replace documents; acknowledged once searchable on every worker',
        body: ingestBody,
        response: { 200: writeResponse, ...commonErrors },
      },
    },
    async (request: FastifyRequest<{ Body: { documents: Doc[] } }>, reply) =>
      submitWrite(reply, { kind: 'ingest', docs: request.body.documents }),
  );

  app.delete(
    '/v1/documents/:id',
    {
      schema: {
        summary: 'Remove a document; acknowledged once gone on every worker',
        params: deleteParams,
        response: { 200: writeResponse, 404: { $ref: 'Error#' }, ...commonErrors },
      },
    },
    async (request: FastifyRequest<{ Params: { id: string } }>, reply) => {
      const out = await submitWrite(reply, { kind: 'delete', ids: [request.params.id] });
      if ('removed' in out && out.removed === 0) throw new RagError('NOT_FOUND', `no document with id "${request.params.id}"`);
      return out;
    },
  );
}
