/**
 * Wrong (on purpose): one bound for the whole queue (the larger of the two, so bulk keeps its room), checked
 * against all the items waiting. Priority, splitting and deadlines are right, but a bulk flood fills the shared room and then
 * interactive requests are shed while bulk items wait: the requests the bound was meant to protect are the ones
 * refused.
 *
 * What differs from a right queue (array-queue.ts, every switch right): admission compares everything waiting with
 * one shared bound instead of each priority's waiting items with its own bound.
 *
 * @rejected-with shed while its own queue had 0 of 4 items waiting
 */
import { createArrayQueue, RIGHT } from '../array-queue.ts';
import type { ModelQueue, QueueOptions } from '../after.ts';

export type { ModelQueue, Priority, QueueOptions, SubmitOptions } from '../after.ts';

export function createQueue<I, O>(opts: QueueOptions<I, O>): ModelQueue<I, O> {
  return createArrayQueue(opts, { ...RIGHT, bound: 'shared' });
}
