/**
 * Wrong (on purpose): the deadline is checked when a chunk reaches the front of the queue, not when it passes. An
 * expired request is skipped then (the model never runs it), but until then it sits in the queue holding its slots:
 * under load the queue fills with requests nobody waits for, and new ones are shed while it does. Its caller also
 * hears nothing until its turn comes.
 *
 * What differs from a right queue (array-queue.ts, every switch right): no 'abort' listener; `signal.aborted` is
 * read at dequeue.
 *
 * @rejected-with expired requests still hold
 */
import { createArrayQueue, RIGHT } from '../array-queue.ts';
import type { ModelQueue, QueueOptions } from '../after.ts';

export type { ModelQueue, Priority, QueueOptions, SubmitOptions } from '../after.ts';

export function createQueue<I, O>(opts: QueueOptions<I, O>): ModelQueue<I, O> {
  return createArrayQueue(opts, { ...RIGHT, abort: 'at-dequeue' });
}
