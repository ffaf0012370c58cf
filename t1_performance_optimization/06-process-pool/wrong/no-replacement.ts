/**
 * Wrong (on purpose): a worker per core and a graceful shutdown, but no supervision. When a worker dies the primary
 * notes it (it stops listing it) and carries on with one worker fewer, for good: after two crashes there is nobody
 * left to answer, while the primary still holds the port and looks alive to whoever started it.
 *
 * What differs from after.ts: the primary's exit handler, in runPrimary (a dead worker is noted, not replaced).
 * The workers are after.ts's own (cluster runs after.ts in them, see runPrimary); runPrimary, which after.ts does not
 * export, is written out here whole, and start() again only to launch this file as the primary.
 *
 * @rejected-with died and the primary forked no replacement
 */
import cluster, { type Worker } from 'node:cluster';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import type { StartOptions } from '../after.ts';
import { envInt, isEntry, onShutdown, reportReady, serveControl, spawnServer, type ServerHandle } from '../spawn.ts';

export type { ServerHandle, StartOptions } from '../after.ts';

/** after.ts's start(), with this file as the primary. */
export function start(opts: StartOptions = {}): Promise<ServerHandle> {
  return spawnServer(fileURLToPath(import.meta.url), {
    LAB06_DOCS: String(opts.docs ?? 150),
    LAB06_WORKERS: String(opts.workers ?? Math.max(2, os.availableParallelism())),
  });
}

/** How long a worker may take to finish its in-flight requests on shutdown (as in after.ts). */
const SHUTDOWN_GRACE_MS = 10_000;

type ToWorker = { t: 'shutdown' };

function runPrimary(workers: number): void {
  // the workers run after.ts itself (its runWorker): only the primary differs
  cluster.setupPrimary({ exec: fileURLToPath(new URL('../after.ts', import.meta.url)) });
  /** worker.id → pid, for workers that are listening. */
  const listening = new Map<number, number>();
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
    if (!shuttingDown) process.stderr.write(`worker ${w.process.pid} died (${signal ?? code})\n`);
  });
  for (let i = 0; i < workers; i++) cluster.fork();

  serveControl(() => [...listening.values()]);
  onShutdown(async () => {
    shuttingDown = true;
    const alive = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined && !w.isDead());
    await Promise.all(
      alive.map(
        (w) =>
          new Promise<void>((resolve) => {
            const timer = setTimeout(() => w.process.kill('SIGKILL'), SHUTDOWN_GRACE_MS + 2_000);
            w.once('exit', () => {
              clearTimeout(timer);
              resolve();
            });
            if (w.isConnected()) w.send({ t: 'shutdown' } satisfies ToWorker);
            else w.process.kill('SIGTERM');
          }),
      ),
    );
  });
}

if (isEntry(import.meta.url) && cluster.isPrimary) runPrimary(envInt('LAB06_WORKERS', 2));
