/**
 * EXERCISE 06-process-pool — run the query service as a supervised pool of processes.
 *
 * `start()` runs this file as a child process; that child is the node:cluster primary. The worker side is done
 * (`runWorker`: build the index, listen on port 0, which under cluster shares the primary's one port, and close
 * gracefully on `{ t: 'shutdown' }`, on SIGTERM or when the primary goes away), and so is the bookkeeping of which
 * workers are listening (what `workers()` reports, and "ready" once every forked worker listens).
 *
 * As shipped, the primary is correct and naive: it forks ONE worker and leaves it at that. Queries are answered
 * right, by one process on one core; if it dies nobody replaces it; on SIGTERM the primary just dies. The checkpoint
 * counts processes (the primary's worker processes, from /proc, and the pids that answer) and rejects:
 *
 *   - fewer processes answering than `workers` asks for ("1 process answers requests, want 2");
 *   - a killed worker that is not replaced while the others keep answering ("worker 1234 died and the primary
 *     forked no replacement"), or that is replaced by more than one;
 *   - a primary that exits before its workers have finished their in-flight requests and exited ("the primary
 *     exited while 2 of 2 worker processes were still running"), or exits with anything but code 0, or lets an
 *     in-flight request be cut off.
 *
 * What must hold as well: every query is answered exactly like the in-process reference (`runQuery`), on GET and
 * POST; bad input gets a 400 naming the problem, an unknown route a 404; fresh connections reach every worker.
 * A worker that keeps dying (it fails at start-up) must not be restarted forever: stop after MAX_RESTARTS within
 * RESTART_WINDOW_MS. `onShutdown(fn)` (spawn.ts) exits the primary with code 0 once `fn`'s promise resolves.
 *
 * Measure yours beside before and after (the headline is req/s under autocannon):
 *   npm run t1 -- --only 06-process-pool --impl exercise --quick
 * Check it: npm run checkpoint -- 06-process-pool
 * Stuck? npm run hint -- 06-process-pool
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
  // Bookkeeping (done): which workers are listening, and "ready" once every worker forked so far is listening.
  /** worker.id → pid, for workers that are listening. */
  const listening = new Map<number, number>();
  let ready = false;
  cluster.on('listening', (w, address) => {
    listening.set(w.id, w.process.pid!);
    const forked = Object.values(cluster.workers ?? {}).filter((x) => x !== undefined && !x.isDead()).length;
    if (!ready && listening.size >= forked) {
      ready = true;
      reportReady(address.port);
    }
  });
  cluster.on('exit', (w) => listening.delete(w.id));
  serveControl(() => [...listening.values()]);

  // The primary's decisions: as shipped, one worker, whatever `workers` asks for, and nothing else.
  cluster.fork();
  process.stderr.write(`primary ${process.pid}: forked 1 worker (asked for ${workers})\n`);
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
