/**
 * POST /v1/admin/reload {index?} → {version, index, dir, from, documents, chunks, replicas, ms}
 *
 * A hot update (reload.ts): the service loads the saved index in `index` (a folder on the server; default the
 * --index it started with, e.g. rebuilt in place) beside the one it serves and swaps to it, with no failed request
 * and no lost write. Answers once every replica serves the new index. Needs a key with the admin scope: the body names
 * a folder on the server. 400: the folder is not a saved index; 409: a reload is running; 422: a replica could not
 * load it; in every failure nothing changed. No deadline: loading a large index takes as long as it takes (the
 * request may be dropped by the client; the reload goes on and its outcome is logged).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { HttpError } from '../http-errors.ts';
import { keyedErrors, reloadBody, reloadResponse } from '../schemas.ts';
import type { RouteContext } from './context.ts';

export function registerAdminRoutes(app: FastifyInstance, ctx: RouteContext): void {
  app.post(
    '/v1/admin/reload',
    {
      config: { access: 'admin' },
      schema: {
        summary: 'Hot update: serve another saved index (or the configured one, rebuilt) without a restart',
        security: [{ apiKey: [] }],
        body: reloadBody,
        response: { 200: reloadResponse, 409: { $ref: 'Error#' }, 422: { $ref: 'Error#' }, 501: { $ref: 'Error#' }, ...keyedErrors },
      },
    },
    async (request: FastifyRequest<{ Body: { index?: string } | null | undefined }>) => {
      if (!ctx.reload) throw new HttpError(501, 'this server cannot reload its index');
      if (!ctx.replica.engine || ctx.closing) throw new HttpError(503, 'the index is not loaded yet', { 'retry-after': '1' });
      return ctx.reload(request.body?.index);
    },
  );
}
