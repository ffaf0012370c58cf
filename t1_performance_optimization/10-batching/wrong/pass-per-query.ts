/**
 * Wrong (on purpose): a correct micro-batcher in front of a batch function that does not share anything. searchBatch
 * receives 32 queries at once and still walks the whole corpus matrix once per query, so the batch saves a few
 * promises and nothing else: the matrix passes, which are nearly all of the work, stay one per request.
 *
 * What differs from after.ts: searchBatch, which is still before.ts's (one pass over the matrix per query);
 * createBatcher is after.ts's.
 *
 * @rejected-with read the whole matrix 8 times for a batch of 8 queries
 */
export { searchBatch } from '../before.ts';
export { createBatcher, type BatchFn, type Batcher, type BatcherOptions, type Hit, type MatrixIndex } from '../after.ts';
