/**
 * Wrong (on purpose): the API enqueues and answers 202, but the jobs carry no retry policy. Before, a failed request
 * answered 503 and the client retried; now the client has its 202 and will not, so a document whose first try hits a
 * transient failure (a flaky embedding service, a timeout) ends in the failed set after one attempt and is never
 * indexed. Taking the work out of the request moved the duty to retry from the client to the queue.
 *
 * What differs from after.ts: the retry policy the API stamps on each job (one attempt, which is what a job without
 * `attempts` gets); everything else is after.ts's service.
 *
 * @rejected-with the client will not retry, so the queue must
 */
import { startIngestService as startAfter } from '../after.ts';
import type { IngestService, ServiceOptions } from '../service.ts';

export { PREFIX, spawnApi, startApi, startQueueService, type QueueRef } from '../after.ts';

export function startIngestService(opts: ServiceOptions): Promise<IngestService> {
  return startAfter({ ...opts, attempts: 1 }); // every job gets one attempt: no retry, however `attempts` was set
}
