/**
 * Wrong (on purpose): the deadline as a race, the way shared/serve/deadline.ts bounds an HTTP request: the caller's
 * promise rejects when the signal fires, but the request stays in the queue. Its slots stay taken, and when its turn
 * comes the model runs it anyway, for nobody: under load, the model's time goes to requests that already failed.
 *
 * What differs from a right queue (array-queue.ts, every switch right): on abort the promise is rejected
 * (Promise.race) instead of the request being taken out of the queue.
 *
 * @rejected-with had already been rejected
 */
import { createArrayQueue, RIGHT } from '../array-queue.ts';
import type { ModelQueue, QueueOptions } from '../after.ts';

export type { ModelQueue, Priority, QueueOptions, SubmitOptions } from '../after.ts';

export function createQueue<I, O>(opts: QueueOptions<I, O>): ModelQueue<I, O> {
  return createArrayQueue(opts, { ...RIGHT, abort: 'race' });
}
