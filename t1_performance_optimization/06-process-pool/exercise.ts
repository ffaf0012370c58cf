/**
 * EXERCISE 06-process-pool — run the query service on every core. Check with: npm run checkpoint -- 06-process-pool
 *
 * The worker side is done (`runWorker`: build the index, listen on port 0, close gracefully on {t: 'shutdown'}), and
 * so is the bookkeeping of which workers are listening. The primary is missing three things (search for TODO):
 *
 * 1. fork `workers` workers with `cluster.fork()`; each re-runs this file, sees `cluster.isPrimary === false` and
 *    becomes a worker. Under cluster every worker's `listen(0)` shares ONE port, opened by the primary.
 * 2. replace a worker that dies (`cluster.on('exit', ...)`): forget it in `listening`, then fork a new one, unless
 *    the primary is shutting down or the worker is crash-looping (more than MAX_RESTARTS in RESTART_WINDOW_MS).
 * 3. graceful shutdown (`onShutdown(async () => ...)`): set `shuttingDown`, send {t: 'shutdown'} to every live
 *    worker and resolve once each one has exited (SIGKILL a worker still alive after SHUTDOWN_GRACE_MS + 2 s).
 *    `onShutdown` exits the primary with code 0 when your function resolves.
 *
 * The solution is in after.ts; try first.
 */
import cluster from 'node:cluster';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { envInt, isEntry, onShutdown, reportReady, serveControl, spawnServer, type ServerHandle } from './spawn.ts';

export type { ServerHandle } from './spawn.ts';

export interface StartOptions {
  /** Brown documents to index (in every worker). Default 150. */
  docs?: number;
  /** Worker processes. Default: the cores this machine has, at least 2. */
  workers?: number;
}

/** Start the cluster (primary + workers) as a child process; resolves when every worker is listening. */
export function start(opts: StartOptions = {}): Promise<ServerHandle> {
  return spawnServer(fileURLToPath(import.meta.url), {
    LAB06_DOCS: String(opts.docs ?? 150),
    LAB06_WORKERS: String(opts.workers ?? Math.max(2, os.availableParallelism())),
  });
}

/** More restarts than this within RESTART_WINDOW_MS is a crash loop: stop replacing workers. */
const MAX_RESTARTS = 10;
const RESTART_WINDOW_MS = 30_000;
/** How long a worker may take to finish its in-flight requests on shutdown before it is killed. */
const SHUTDOWN_GRACE_MS = 10_000;

type ToWorker = { t: 'shutdown' };

function runPrimary(workers: number): void {
  /** worker.id → pid, for workers that are listening. */
  const listening = new Map<number, number>();
  const restarts: number[] = [];
  let ready = false;
  let shuttingDown = false;

  cluster.on('listening', (w, address) => {
    listening.set(w.id, w.process.pid!);
    if (!ready && listening.size === workers) {
      ready = true;
      reportReady(address.port);
    }
  });
  // TODO(1): fork `workers` workers.
  // TODO(2): on a worker's 'exit': listening.delete(w.id); unless shuttingDown (or crash-looping: keep the times of
  //          recent restarts in `restarts`), fork a replacement.
  void restarts;
  serveControl(() => [...listening.values()]);
  // TODO(3): onShutdown(async () => { shuttingDown = true; send { t: 'shutdown' } to every live worker
  //          (Object.values(cluster.workers ?? {})) and wait for each one's 'exit' }).
  void shuttingDown;
  throw new Error('TODO(06-process-pool): fork the workers, replace the ones that die and shut them down gracefully (runPrimary in exercise.ts)');
}

async function runWorker(): Promise<void> {
  // imported here, not at the top: the primary never serves, so it does not load the corpus and index code
  const { buildIndex, createQueryServer } = await import('./app.ts');
  const index = await buildIndex(envInt('LAB06_DOCS', 150));
  const app = createQueryServer(index);
  let closing: Promise<void> | undefined;
  const close = () => (closing ??= app.close(SHUTDOWN_GRACE_MS));
  process.on('message', (m: unknown) => {
    if ((m as ToWorker | undefined)?.t === 'shutdown') void close().then(() => process.exit(0));
  });
  onShutdown(close);
  await app.listen(0); // port 0 under cluster: every worker shares the one port the primary opened
}

if (isEntry(import.meta.url)) {
  if (cluster.isPrimary) runPrimary(envInt('LAB06_WORKERS', 2));
  else await runWorker();
}
