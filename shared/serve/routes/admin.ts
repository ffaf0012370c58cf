/**
 * POST /v1/admin/reload {index?} → {version, index, dir, from, documents, chunks, replicas, ms}
 *
 * A hot update (reload.ts): the service loads the saved index in `index` (a folder on the server; default the
 * --index it started with, e.g. rebuilt in place) beside the one it serves and swaps to it, with no failed request
 * and no lost write. Answers once every replica serves the new index. Needs a key with the admin scope: the body names
 * a folder on the server. 400: the folder is not a saved index; 409: a reload is running; 422: a replica could not
 * load it; in every failure nothing changed. No deadline: loading a large index takes as long as it takes (the
 * request may be dropped by the client; the reload goes on and its outcome is logged).
 *
 * POST /v1/admin/model {model?} → {model, from, to, loadMs, warmMs}
 *
 * A model hot-swap (shared/model/served-model.ts, T3 lesson 11), for a service started with --embedder onnx: the
 * folder `model` (default: the --model folder, e.g. after writing a new quantization into it) is loaded beside the
 * serving model and warmed, then one reference switches; queries in flight finish on the model they started with,
 * whose session is released after the last of them. No failed request. The answer names both versions (the first 12
 * hex digits of each model.onnx's SHA-256). The new model must be the same model (its dimension is checked): another
 * model needs a new index and POST /v1/admin/reload. 400: not a model folder, another dimension, or the same file;
 * 501: the service does not serve an ONNX model, or runs as a cluster (there, POST /v1/admin/reload starts new
 * workers, which load the --model folder as it is now: a swap with no failed request too). SIGUSR2: the same swap
 * from the --model folder, outcome in the log.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { HttpError } from '../http-errors.ts';
import { keyedErrors, modelSwapBody, modelSwapResponse, reloadBody, reloadResponse } from '../schemas.ts';
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

  app.post(
    '/v1/admin/model',
    {
      config: { access: 'admin' },
      schema: {
        summary: 'Hot-swap the ONNX model (a new quantization or export of the same model) without a restart',
        security: [{ apiKey: [] }],
        body: modelSwapBody,
        response: { 200: modelSwapResponse, 501: { $ref: 'Error#' }, ...keyedErrors },
      },
    },
    async (request: FastifyRequest<{ Body: { model?: string } | null | undefined }>) => {
      if (!ctx.swapModel) throw new HttpError(501, 'this server cannot swap its model (it serves no ONNX model, or runs as a cluster: POST /v1/admin/reload)');
      if (!ctx.replica.engine || ctx.closing) throw new HttpError(503, 'the index is not loaded yet', { 'retry-after': '1' });
      return ctx.swapModel(request.body?.model);
    },
  );
}
