/**
 * The bench's load generator, in its own process (like autocannon): if it shared the event loop with the workers
 * or the API, every latency it records would include the ingestion work that happened to be running when the
 * answer arrived. `node --import tsx loadgen-process.ts`; the parent sends `{ docs }` once, then
 * `{ url, concurrency }` per batch, and gets back the UploadReport (failed as entries).
 */
import type { Doc } from '../../shared/types.ts';
import { uploadAll } from './client.ts';

let docs: Doc[] = [];
process.on('message', async (m: { docs?: Doc[]; url?: string; concurrency?: number }) => {
  if (m.docs) {
    docs = m.docs;
    process.send!({ ready: true });
    return;
  }
  try {
    const r = await uploadAll(m.url!, docs, { concurrency: m.concurrency });
    process.send!({ latencies: r.latencies, statuses: r.statuses, failed: [...r.failed], retried: r.retried, ms: r.ms });
  } catch (err) {
    process.send!({ error: (err as Error).message });
  }
});
process.on('disconnect', () => process.exit(0));
