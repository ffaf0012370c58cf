/**
 * POST   /v1/documents       {documents: [{id, text, title?, metadata?}]} → {version, documents, chunks, replaced}
 * DELETE /v1/documents/:id   → {version, removed}; 404 for an unknown id
 * DELETE /v1/documents       {ids: [...]} → {version, removed}; 404 when none of them exists
 *
 * Every route here needs a key with the write scope and counts against the key's write budget (access.ts). Ids
 * follow one rule on every route (ids.ts): the same length and characters, valid Unicode, no duplicates in one
 * request. Each write goes to the write path (writes.ts) and is acknowledged once every replica applied it, with
 * the index version it produced.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { RagError } from '../../errors.ts';
import type { Doc } from '../../types.ts';
import { withDeadline } from '../deadline.ts';
import { checkIds } from '../ids.ts';
import { deleteBody, deleteParams, ingestBody, keyedErrors, writeResponse } from '../schemas.ts';
import { outcomeError, type WriteOp } from '../writes.ts';
import type { RouteContext } from './context.ts';

const WRITE = { access: 'write', budget: 'write' } as const;

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
      config: WRITE,
      schema: {
        summary: 'Add or replace documents; acknowledged once searchable on every worker',
        security: [{ apiKey: [] }],
        body: ingestBody,
        response: { 200: writeResponse, ...keyedErrors },
      },
    },
    async (request: FastifyRequest<{ Body: { documents: Doc[] } }>, reply) => {
      const docs = request.body.documents;
      checkIds(
        docs.map((d) => d.id),
        (i) => `body.documents.${i}.id`,
        'body.documents',
      );
      return submitWrite(reply, { kind: 'ingest', docs });
    },
  );

  app.delete(
    '/v1/documents/:id',
    {
      config: WRITE,
      schema: {
        summary: 'Remove a document; acknowledged once gone on every worker',
        security: [{ apiKey: [] }],
        params: deleteParams,
        response: { 200: writeResponse, 404: { $ref: 'Error#' }, ...keyedErrors },
      },
    },
    async (request: FastifyRequest<{ Params: { id: string } }>, reply) => {
      const id = request.params.id;
      checkIds([id], () => 'params.id', 'params');
      const out = await submitWrite(reply, { kind: 'delete', ids: [id] });
      if ('removed' in out && out.removed === 0) throw new RagError('NOT_FOUND', `no document with id ${JSON.stringify(id)}`);
      return out;
    },
  );

  app.delete(
    '/v1/documents',
    {
      config: WRITE,
      schema: {
        summary: 'Remove documents by id (ids of any valid length, in the body); acknowledged once gone on every worker',
        security: [{ apiKey: [] }],
        body: deleteBody,
        response: { 200: writeResponse, 404: { $ref: 'Error#' }, ...keyedErrors },
      },
    },
    async (request: FastifyRequest<{ Body: { ids: string[] } }>, reply) => {
      const ids = request.body.ids;
      checkIds(ids, (i) => `body.ids.${i}`, 'body.ids');
      const out = await submitWrite(reply, { kind: 'delete', ids });
      if ('removed' in out && out.removed === 0) throw new RagError('NOT_FOUND', `none of the ${ids.length} ids names a document (nothing was removed)`);
      return out;
    },
  );
}
