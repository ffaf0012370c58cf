/**
 * Start a worker thread on a TypeScript module. A worker does not inherit the main thread's `--import tsx` (nor
 * vitest's transform), so `new Worker(new URL('./x.ts', import.meta.url))` fails outside a build step. The repo's
 * lessons each carried a small `worker-boot.mjs` that registers tsx and then imports one fixed .ts file
 * (t1/05-worker-pool, t3/07-model-parallelism); this is the same boot with the entry as a parameter, for any lesson
 * or engine module:
 *
 *     const worker = startTsWorker(new URL('./my-worker.ts', import.meta.url), { workerData: { ... } });
 *
 * `workerData`, `transferList`, `resourceLimits` and the rest of Node's WorkerOptions pass through untouched; the
 * entry's URL travels as the last element of the worker's `process.argv` (read by ts-worker-boot.mjs), so the worker
 * module sees `workerData` exactly as given.
 */
import { Worker, type WorkerOptions } from 'node:worker_threads';

/** The plain-JS boot file every TypeScript worker starts from. */
export const TS_WORKER_BOOT = new URL('./ts-worker-boot.mjs', import.meta.url);

/** A worker thread running the TypeScript (or JavaScript) module at `entry`, loaded through tsx. */
export function startTsWorker(entry: URL, options: WorkerOptions = {}): Worker {
  return new Worker(TS_WORKER_BOOT, { ...options, argv: [...(options.argv ?? []), entry.href] });
}
