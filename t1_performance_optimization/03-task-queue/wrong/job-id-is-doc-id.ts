/**
 * Wrong (on purpose): the API enqueues and answers 202 with retries, like after.ts, but gives each job the document's
 * id as its job id ("one job per document, duplicates for free"). BullMQ ignores an add whose job id it still knows:
 * while the first version's job is waiting or running (or kept as failed), a second upload of the same document is
 * answered 202 and dropped. The client was told "accepted"; the index keeps the old text.
 *
 * What differs from after.ts: the `queue.add` of startApi (the API tier); startIngestService is after.ts's service
 * with this file's startApi in its API process.
 *
 * @rejected-with the update was lost
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Queue } from 'bullmq';
import type { Doc } from '../../../shared/types.ts';
import { closeServer, readDoc, redisConnection, sendError, sendJson, type IngestService, type ServiceOptions } from '../service.ts';
import { PREFIX, startQueueService, type QueueRef } from '../after.ts';

export { PREFIX, spawnApi, startQueueService, type QueueRef } from '../after.ts';

/** after.ts's API tier, except for the job id. */
export async function startApi(ref: QueueRef): Promise<{ port: number; close(): Promise<void> }> {
  const queue = new Queue<Doc>(ref.name, {
    connection: redisConnection(ref.redisUrl),
    prefix: PREFIX,
    defaultJobOptions: {
      attempts: ref.attempts,
      backoff: { type: 'exponential', delay: ref.backoffMs },
      removeOnComplete: true,
      removeOnFail: false,
    },
  });
  queue.on('error', () => {});
  const server = http.createServer(async (req, res) => {
    try {
      if (req.method !== 'POST' || req.url !== '/documents') {
        sendJson(res, 404, { error: `no route ${req.method} ${req.url}` });
        return;
      }
      const doc = await readDoc(req);
      const job = await queue.add('ingest', doc, { jobId: doc.id }); // one job per document: duplicates are ignored
      sendJson(res, 202, { id: doc.id, jobId: job.id });
    } catch (err) {
      sendError(res, err);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    async close() {
      await closeServer(server);
      await queue.close();
    },
  };
}

export function startIngestService(opts: ServiceOptions): Promise<IngestService> {
  return startQueueService(opts, import.meta.url);
}
