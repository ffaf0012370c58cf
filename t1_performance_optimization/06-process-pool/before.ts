/**
 * The query service the way it starts: one Node process. `start()` runs this file as a child process
 * (`node --import tsx before.ts`); the child builds the BM25 index over Brown chunks and serves /query on 127.0.0.1.
 *
 * One process means one JavaScript thread: every request's BM25 scoring, answer extraction and JSON encoding queue
 * behind each other on one core, whatever the machine has. If the process dies, the service is down.
 */
import { fileURLToPath } from 'node:url';
import { buildIndex, createQueryServer } from './app.ts';
import { envInt, isEntry, onShutdown, reportReady, serveControl, spawnServer, type ServerHandle } from './spawn.ts';

export type { ServerHandle } from './spawn.ts';

export interface StartOptions {
  /** Brown documents to index. Default 150. */
  docs?: number;
  /** Processes serving requests. A single process always uses 1; accepted so both files share one interface. */
  workers?: number;
}

/** Start the server as a child process; resolves when it is listening. */
export function start(opts: StartOptions = {}): Promise<ServerHandle> {
  return spawnServer(fileURLToPath(import.meta.url), { LAB06_DOCS: String(opts.docs ?? 150) });
}

async function main(): Promise<void> {
  const index = await buildIndex(envInt('LAB06_DOCS', 150));
  const app = createQueryServer(index);
  const port = await app.listen(0);
  serveControl(() => [process.pid]);
  onShutdown(() => app.close());
  reportReady(port);
}

if (isEntry(import.meta.url)) await main();
