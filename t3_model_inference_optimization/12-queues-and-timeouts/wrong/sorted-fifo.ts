/**
 * Wrong (on purpose): served in arrival order across both priorities, what one array "sorted by priority" on every
 * push does when the comparator sorts by arrival number first and by priority only to break ties: arrival numbers
 * never tie, the sort is a no-op, and an interactive request waits behind every bulk chunk queued before it, as in
 * before.ts. Bounds, splitting and deadlines are right.
 *
 * What differs from a right queue (array-queue.ts, every switch right): `order: 'arrival'` instead of a FIFO per
 * priority served interactive first.
 *
 * @rejected-with queued bulk runs went ahead
 */
import { createArrayQueue, RIGHT } from '../array-queue.ts';
import type { ModelQueue, QueueOptions } from '../after.ts';

export type { ModelQueue, Priority, QueueOptions, SubmitOptions } from '../after.ts';

export function createQueue<I, O>(opts: QueueOptions<I, O>): ModelQueue<I, O> {
  return createArrayQueue(opts, { ...RIGHT, order: 'arrival' });
}
