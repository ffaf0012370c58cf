/**
 * Wrong (on purpose): priorities, bounds and deadlines are right, but a submission runs whole: a 256-text ingest
 * batch is one model run. An interactive request that arrives just after it starts waits for all 256 texts (with
 * MiniLM on one core, seconds), so the priority only decides who goes next, not how long "next" takes.
 *
 * What differs from a right queue (array-queue.ts, every switch right): no split into chunks of maxBatch items.
 *
 * @rejected-with a bulk run of 40 items
 */
import { createArrayQueue, RIGHT } from '../array-queue.ts';
import type { ModelQueue, QueueOptions } from '../after.ts';

export type { ModelQueue, Priority, QueueOptions, SubmitOptions } from '../after.ts';

export function createQueue<I, O>(opts: QueueOptions<I, O>): ModelQueue<I, O> {
  return createArrayQueue(opts, { ...RIGHT, split: false });
}
