import type { FastifyReply } from 'fastify';
import { HttpError } from './http-errors.ts';

/**
 * Resolves with `p`, or rejects with a 504 HttpError once the request is `limit` ms old (counted from when Fastify
 * read it, so time spent queued behind other work counts too). The work itself is not cancelled.
 */
export function withDeadline<T>(reply: FastifyReply, p: Promise<T>, limit: number): Promise<T> {
  const left = limit - reply.elapsedTime;
  if (left <= 0) return Promise.reject(new HttpError(504, `deadline of ${limit} ms passed before the work started`));
  let timer: NodeJS.Timeout;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new HttpError(504, `deadline of ${limit} ms exceeded`)), left);
    }),
  ]).finally(() => clearTimeout(timer));
}
