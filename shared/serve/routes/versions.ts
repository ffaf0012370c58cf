/**
 * GET  /v1/documents/:id/versions       → {id, versions: [{version, at, kind, bytes}]}              read
 * GET  /v1/documents/:id/versions/:v    → {id, version, asOf, at, text, title?, metadata?}           read
 * POST /v1/documents/:id/rollback {version} → {version, to, restored, documents|removed, …}          write
 *
 * The history is the data directory's (store/history.ts): every acknowledged ingest or delete of a document, under
 * its service version. `:v` is any service version: the answer is the document as the latest write at or before it
 * left it (404 if it was deleted then, did not exist yet, or a hot update replaced the index since that write).
 *
 * A rollback is a new write through the ordinary write path: the document as it was at `version` is ingested again
 * (or deleted, if it was deleted then), numbered, logged and acknowledged like any other write; the history only
 * grows. A rollback to the state the document is already in changes nothing (an ingest of an unchanged document:
 * `unchanged: 1`, no new version; a delete of an absent one: `removed: 0`).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { RagError } from '../../errors.ts';
import { withDeadline } from '../deadline.ts';
import { HttpError } from '../http-errors.ts';
import { checkIds } from '../ids.ts';
import { deleteParams, keyedErrors, rollbackBody, rollbackResponse, versionListResponse, versionParams, versionResponse } from '../schemas.ts';
import type { HistoryReader } from '../store/history.ts';
import { outcomeError, type WriteOp } from '../writes.ts';
import type { RouteContext } from './context.ts';

const READ = { access: 'read', budget: 'read' } as const;
const WRITE = { access: 'write', budget: 'write' } as const;
const errors = { 404: { $ref: 'Error#' }, 501: { $ref: 'Error#' }, ...keyedErrors } as const;

export function registerVersionRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const historyOf = (): HistoryReader => {
    const h = ctx.history;
    if (!h) throw new HttpError(501, 'document versions need a data directory (--data-dir) and --workers 1');
    if (h.failed) throw new HttpError(503, `document history unavailable: ${h.failed}`, { 'retry-after': '60' });
    return h;
  };
  /** The version asked for, checked against the version the service is at. */
  const asOfVersion = (v: number, field: string): number => {
    if (!Number.isSafeInteger(v)) throw new HttpError(400, `${field} must be a version number`);
    if (v > ctx.replica.version) throw new RagError('NOT_FOUND', `${field}: no version ${v} yet (the service is at version ${ctx.replica.version})`);
    return v;
  };

  app.get(
    '/v1/documents/:id/versions',
    {
      config: READ,
      schema: {
        summary: "A document's versions: every acknowledged ingest and delete of it, oldest first",
        params: deleteParams,
        response: { 200: versionListResponse, ...errors },
      },
    },
    async (request: FastifyRequest<{ Params: { id: string } }>) => {
      const id = request.params.id;
      checkIds([id], () => 'params.id', 'params');
      return { id, versions: historyOf().list(id) };
    },
  );

  app.get(
    '/v1/documents/:id/versions/:v',
    {
      config: READ,
      schema: {
        summary: 'A document as of a version (its text, title and metadata, rebuilt from the stored deltas)',
        params: versionParams,
        response: { 200: versionResponse, ...errors },
      },
    },
    async (request: FastifyRequest<{ Params: { id: string; v: string } }>) => {
      const id = request.params.id;
      checkIds([id], () => 'params.id', 'params');
      const asOf = asOfVersion(Number(request.params.v), 'params.v');
      const state = historyOf().stateAt(id, asOf);
      if (state.kind === 'delete') {
        throw new RagError('NOT_FOUND', `document ${JSON.stringify(id)} was deleted at version ${state.version} (as of ${asOf} it does not exist)`);
      }
      return { ...state.doc, asOf };
    },
  );

  app.post(
    '/v1/documents/:id/rollback',
    {
      config: WRITE,
      schema: {
        summary: 'Write a document again as it was at a version (a new version; deleted then: deleted now)',
        security: [{ apiKey: [] }],
        params: deleteParams,
        body: rollbackBody,
        response: { 200: rollbackResponse, ...errors },
      },
    },
    async (request: FastifyRequest<{ Params: { id: string }; Body: { version: number } }>, reply) => {
      const id = request.params.id;
      checkIds([id], () => 'params.id', 'params');
      const history = historyOf();
      const v = request.body.version;
      if (v > ctx.replica.version) throw new HttpError(400, `body.version ${v} is after the current version ${ctx.replica.version}`);
      let state;
      try {
        state = history.stateAt(id, v);
      } catch (err) {
        // the document or version is unknown to the history: the request names nothing to restore
        if (err instanceof RagError && err.code === 'NOT_FOUND') throw new HttpError(404, `cannot roll back: ${err.message}`);
        throw err;
      }
      const op: WriteOp =
        state.kind === 'delete'
          ? { kind: 'delete', ids: [id] }
          : {
              kind: 'ingest',
              docs: [{ id, text: state.doc.text, ...(state.doc.title !== undefined ? { title: state.doc.title } : {}), ...(state.doc.metadata !== undefined ? { metadata: state.doc.metadata } : {}) }],
            };
      const out = await submitWrite(ctx, reply, op);
      return { ...out, to: state.kind === 'delete' ? state.version : state.doc.version, restored: state.kind };
    },
  );
}

async function submitWrite(ctx: RouteContext, reply: FastifyReply, op: WriteOp): Promise<Record<string, unknown> & { version: number }> {
  if (!ctx.replica.engine || ctx.closing) {
    return ctx.shedding.refuse(reply, ctx.closing ? 'shutting_down' : 'not_ready', 'the index is not loaded yet') as never;
  }
  const ack = await withDeadline(reply, ctx.writes.submit(op), ctx.writeDeadlineMs);
  const err = outcomeError(ack.outcome);
  if (err) throw err;
  ctx.replica.moveTo(ack.version);
  return { version: ack.version, ...(ack.outcome as { result: object }).result };
}
