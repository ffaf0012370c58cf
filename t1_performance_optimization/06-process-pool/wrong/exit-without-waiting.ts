/**
 * Wrong (on purpose): forks, supervises, and on SIGTERM tells every worker to shut down, but does not wait for them:
 * the shutdown function returns at once and the primary exits 0 while its workers are still finishing requests. To
 * whoever started the service (systemd, a container runtime, a deploy script) it has stopped, and what they do next
 * (start the new version on the same port, kill the rest of the process group, remove the container) happens while
 * the old workers are still answering.
 *
 * @rejected-with whoever started the service now thinks it has stopped
 */
import cluster, { type Worker } from 'node:cluster';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { envInt, isEntry, onShutdown, reportReady, serveControl, spawnServer, type ServerHandle } from '../spawn.ts';

export type { ServerHandle } from '../spawn.ts';

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
  cluster.on('exit', (w, code, signal) => {
    listening.delete(w.id);
    if (shuttingDown) return;
    const now = Date.now();
    while (restarts.length > 0 && now - restarts[0] > RESTART_WINDOW_MS) restarts.shift();
    if (restarts.length >= MAX_RESTARTS) {
      process.stderr.write(`worker ${w.process.pid} died (${signal ?? code}); crash loop, not restarting\n`);
      return;
    }
    restarts.push(now);
    process.stderr.write(`worker ${w.process.pid} died (${signal ?? code}); starting a replacement\n`);
    cluster.fork();
  });
  for (let i = 0; i < workers; i++) cluster.fork();

  serveControl(() => [...listening.values()]);
  onShutdown(async () => {
    shuttingDown = true;
    for (const w of Object.values(cluster.workers ?? {})) {
      if (w && !w.isDead() && w.isConnected()) w.send({ t: 'shutdown' } satisfies ToWorker);
    }
    // returns without waiting for the workers to exit
  });
}

async function runWorker(): Promise<void> {
  // imported here, not at the top: the primary never serves, so it does not load the corpus and index code
  const { buildIndex, createQueryServer } = await import('../app.ts');
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
