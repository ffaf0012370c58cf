/**
 * Entry point of the API process of after.ts (and exercise.ts): `node --import tsx api-process.ts <module-url> <queue-json>`.
 * Imports `startApi` from the given module, starts it, reports `{ port }` over IPC, and exits on 'close' or when the
 * parent goes away (so a crashed test or bench never leaves it running).
 */
import type { QueueRef } from './after.ts';

type ApiModule = { startApi(ref: QueueRef): Promise<{ port: number; close(): Promise<void> }> };

const [moduleUrl, refJson] = process.argv.slice(2);
try {
  const mod = (await import(moduleUrl)) as ApiModule;
  const api = await mod.startApi(JSON.parse(refJson) as QueueRef);
  const stop = async () => {
    await api.close().catch(() => {});
    process.exit(0);
  };
  process.on('message', (m) => m === 'close' && void stop());
  process.on('disconnect', () => void stop());
  process.send!({ port: api.port });
} catch (err) {
  process.send!({ error: (err as Error).stack ?? String(err) });
  process.exit(1);
}
