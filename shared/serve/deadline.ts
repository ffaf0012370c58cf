import type { FastifyReply } from 'fastify';
import { HttpError } from './http-errors.ts';

/**
 * Resolves with `p`, or rejects with a 504 HttpError once the request is `limit` ms old (counted from when Fastify
 * read it, so time spent queued behind other work counts too). The work itself is not cancelled, but `abort` (when
 * given) is aborted at the deadline: work that waits in a queue and listens to its signal (the ONNX model's
 * InferenceQueue) leaves the queue at once instead of running for nobody.
 */
export function withDeadline<T>(reply: FastifyReply, p: Promise<T>, limit: number, abort?: AbortController): Promise<T> {
  const left = limit - reply.elapsedTime;
  if (left <= 0) {
    abort?.abort(new DOMException(`deadline of ${limit} ms passed`, 'TimeoutError'));
    p.catch(() => {}); // answered 504 already; the work's own failure has nobody to tell
    return Promise.reject(new HttpError(504, `deadline of ${limit} ms passed before the work started`));
  }
  let timer: NodeJS.Timeout;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        abort?.abort(new DOMException(`deadline of ${limit} ms exceeded`, 'TimeoutError'));
        reject(new HttpError(504, `deadline of ${limit} ms exceeded`));
      }, left);
    }),
  ]).finally(() => clearTimeout(timer));
}
