/**
 * A third way for the benchmark: offload the job to a worker thread. The blocking code of before.ts runs unchanged
 * in the worker; the main thread only posts the task and awaits the answer, so its event loop stays free and the
 * job gets a core of its own (slicing in after.ts shares one core between the job and everything else).
 *
 * One worker, tasks queued in order. A production server would use a pool of them with a bounded queue (piscina:
 * lesson 05-worker-pool).
 */
import { Worker } from 'node:worker_threads';
import { brownFiles } from './data.ts';
import { listen, type CorpusFile, type Hit, type RunningServer, type SearchParams, type ServerOptions } from './server-kit.ts';

/** Starts a worker running search-worker.ts. tsx registers its loader inside the worker, so it can import .ts. */
function startWorker(): Worker {
  const file = new URL('./search-worker.ts', import.meta.url).href;
  const boot = `import('tsx/esm/api').then((m) => { m.register(); return import(${JSON.stringify(file)}); })`;
  return new Worker(boot, { eval: true });
}

export async function startWorkerServer(opts: ServerOptions = {}): Promise<RunningServer> {
  const worker = startWorker();
  const pending = new Map<number, { resolve: (hits: Hit[]) => void; reject: (err: Error) => void }>();
  let nextId = 0;
  worker.on('message', (m: { id: number; hits?: Hit[]; error?: string }) => {
    const p = pending.get(m.id);
    pending.delete(m.id);
    if (m.error !== undefined) p?.reject(new Error(m.error));
    else p?.resolve(m.hits ?? []);
  });
  worker.on('error', (err) => {
    for (const p of pending.values()) p.reject(err);
    pending.clear();
  });
  const job = (files: CorpusFile[], params: SearchParams) =>
    new Promise<Hit[]>((resolve, reject) => {
      const id = nextId++;
      pending.set(id, { resolve, reject });
      worker.postMessage({ id, files, params });
    });
  const server = await listen(job, opts.files ?? brownFiles(), opts);
  return {
    url: server.url,
    close: async () => {
      await server.close();
      await worker.terminate();
    },
  };
}
