/**
 * How the service answers errors: every failure is `{statusCode, error, message}` with a status chosen here.
 *
 *     validation failure (Ajv)                  400, message names the field ("body.k must be >= 1")
 *     HttpError(status, message, headers)       that status and headers (401/403 + WWW-Authenticate and 429 +
 *                                               Retry-After from access.ts, 400 from the id rule, 504 from deadline.ts)
 *     body over the limit                       413
 *     RagError 'INVALID_INPUT' / 'NOT_FOUND'    400 / 404
 *     the model queue's refusals               'OVERLOADED' / 'SHUTTING_DOWN' 503 + Retry-After, 'DEADLINE_EXCEEDED'
 *       (shared/model/inference-queue.ts)      504, 'ABORTED' 499 (queueErrorStatus)
 *     any other RagError code                  500
 *     another error carrying a 4xx statusCode   that status (Fastify's own: 415, a body that is not JSON, …)
 *     anything else                             500 "internal error", logged with its stack
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { isRagError } from '../errors.ts';
import { queueErrorStatus } from '../model/inference-queue.ts';
import type { Metrics } from '../observe/metrics.ts';

/** An error answered with `statusCode`, its message and, optionally, response headers. */
export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

type ServedError = Error & { statusCode?: number; code?: string; validation?: unknown };

const STATUS_NAMES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  409: 'Conflict',
  413: 'Payload Too Large',
  414: 'URI Too Long',
  415: 'Unsupported Media Type',
  429: 'Too Many Requests',
  422: 'Unprocessable Entity',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

/** The `{statusCode, error, message}` body of an error answer. */
export function errorBody(status: number, message: string): { statusCode: number; error: string; message: string } {
  return { statusCode: status, error: STATUS_NAMES[status] ?? 'Error', message };
}

/** The status and message an error is answered with (before 500s are reduced to "internal error"). */
export function httpStatusOf(err: ServedError, bodyLimit: number): { status: number; message: string; headers?: Record<string, string> } {
  if (err.validation) return { status: 400, message: err.message };
  const queued = queueErrorStatus(err);
  if (queued) return { status: queued.status, message: err.message, headers: queued.headers };
  if (err instanceof HttpError) return { status: err.statusCode, message: err.message };
  if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
    return { status: 413, message: `request body is larger than the ${bodyLimit}-byte limit` };
  }
  if (isRagError(err)) return { status: err.code === 'INVALID_INPUT' ? 400 : err.code === 'NOT_FOUND' ? 404 : 500, message: err.message };
  if (typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500) return { status: err.statusCode, message: err.message };
  return { status: 500, message: err.message };
}

/** The Fastify error handler: logs server faults (not deadlines), counts deadlines, sends the error body. */
export function errorHandler(opts: { bodyLimit: number; metrics: Metrics }) {
  return (err: ServedError, request: FastifyRequest, reply: FastifyReply): void | Promise<void> => {
    const { status, message, headers } = httpStatusOf(err, opts.bodyLimit);
    if (status >= 500 && status !== 504) request.log.error({ err, url: request.url }, 'request failed');
    if (status === 504) opts.metrics.deadline.inc();
    if (err instanceof HttpError) reply.headers(err.headers);
    if (headers) reply.headers(headers);
    const send = () => void reply.code(status).send(errorBody(status, status === 500 ? 'internal error' : message));
    const reading = status === 413 ? readOffRefusedBody(request, reply, opts.bodyLimit * 4) : undefined;
    if (reading) return reading.then(send);
    send();
  };
}

/**
 * A body refused with 413 is read to its end and dropped (when it declares at most `cap` bytes) before the answer
 * goes out: a server that answers and closes while the client is still writing leaves unread bytes, the kernel resets
 * the connection, and the client's write fails (EPIPE, ECONNRESET) before it has read the 413. The connection then
 * stays open for the next request, unless the client asked to close it. A chunked body, or one declared larger than
 * the cap, is answered at once and its connection closed (Fastify's `connection: close`). Slow senders are cut off by
 * the request timeout as before. Undefined: answer now.
 */
function readOffRefusedBody(request: FastifyRequest, reply: FastifyReply, cap: number): Promise<void> | undefined {
  const req = request.raw;
  if (req.complete || req.destroyed) return undefined;
  const declared = Number(req.headers['content-length']);
  if (!Number.isFinite(declared) || declared > cap) return undefined;
  reply.removeHeader('connection');
  return new Promise((resolve) => {
    req.once('end', resolve);
    req.once('close', resolve);
    req.once('error', resolve);
    req.resume(); // the parser stops at the declared length
  });
}

/**
 * Fastify's framework errors (a URL whose percent-encoding does not decode, a path parameter over the router's
 * length limit) answered in the same `{statusCode, error, message}` shape as every other error.
 */
export function frameworkErrors(err: Error & { code?: string }, _request: FastifyRequest, reply: FastifyReply): void {
  if (err.code === 'FST_ERR_MAX_PARAM_LENGTH') {
    reply.code(414).send(errorBody(414, 'a path parameter is longer than any valid value (see the id rule in the API docs)'));
    return;
  }
  if (err.code === 'FST_ERR_BAD_URL') {
    reply.code(400).send(errorBody(400, 'the request URL is not valid percent-encoded UTF-8'));
    return;
  }
  reply.code(400).send(errorBody(400, err.message));
}

/** Ajv errors as one message naming the field: "body.k must be >= 1", "body.query is required", "body.foo is not a known field". */
export function formatValidation(
  errors: Array<{ keyword: string; instancePath: string; message?: string; params: Record<string, unknown> }>,
  dataVar: string,
): Error {
  const e = errors[0];
  const field = dataVar + e.instancePath.replace(/\//g, '.');
  let message: string;
  const badName = errors.find((x) => x.keyword === 'propertyNames');
  if (badName) message = `${field}.${String(badName.params.propertyName)} is not allowed as a key`;
  else if (e.keyword === 'required') message = `${field}.${String(e.params.missingProperty)} is required`;
  else if (e.keyword === 'additionalProperties') message = `${field}.${String(e.params.additionalProperty)} is not a known field`;
  else if (e.keyword === 'enum') message = `${field} must be one of ${(e.params.allowedValues as unknown[]).join(', ')}`;
  else message = `${field} ${e.message ?? 'is invalid'}`;
  return new Error(message);
}
