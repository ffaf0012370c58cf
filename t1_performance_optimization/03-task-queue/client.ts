/**
 * The load the lesson puts on the API: `concurrency` clients upload documents (one `POST /documents` each) over
 * keep-alive connections, retrying 5xx answers and dropped connections with exponential backoff (at-least-once on
 * the client side too). Records every request's latency.
 */
import { fork } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';
import { percentileNearestRank } from '../../shared/util/stats.ts';
import type { Doc } from '../../shared/types.ts';

// Not service.ts's: the load generator's process should not load Redis clients it never uses.
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export interface UploadOptions {
  /** Requests in flight at once. Default 8. */
  concurrency?: number;
  /** Retries per document after the first try. Default 5. */
  retries?: number;
  /** First retry delay in ms, doubled on each further retry. Default 20. */
  backoffMs?: number;
}

export interface UploadReport {
  /** Latency of every request that got an answer (retries included as separate requests), ms. */
  latencies: number[];
  /** HTTP status of every request that got an answer, in the same order as `latencies`. */
  statuses: number[];
  /** Documents the API refused for good: id → last status or error. */
  failed: Map<string, string>;
  /** Requests retried (5xx or connection dropped). */
  retried: number;
  /** ms until the last request was answered. */
  ms: number;
}

export async function uploadAll(url: string, docs: readonly Doc[], opts: UploadOptions = {}): Promise<UploadReport> {
  const concurrency = Math.max(1, opts.concurrency ?? 8);
  const retries = opts.retries ?? 5;
  const backoffMs = opts.backoffMs ?? 20;
  const pool = new Pool(url, { connections: concurrency, pipelining: 1 });
  const latencies: number[] = [];
  const statuses: number[] = [];
  const failed = new Map<string, string>();
  let retried = 0;
  let next = 0;
  const t0 = performance.now();

  async function send(doc: Doc): Promise<void> {
    const body = JSON.stringify(doc);
    for (let attempt = 0; ; attempt++) {
      let why: string;
      const t = performance.now();
      try {
        const res = await pool.request({ method: 'POST', path: '/documents', body, headers: { 'content-type': 'application/json' } });
        const text = await res.body.text();
        latencies.push(performance.now() - t);
        statuses.push(res.statusCode);
        if (res.statusCode < 300) return;
        why = `HTTP ${res.statusCode}: ${text}`;
        if (res.statusCode < 500) {
          failed.set(doc.id, why); // 4xx: the document is wrong, retrying will not help
          return;
        }
      } catch (err) {
        why = (err as Error).message;
      }
      if (attempt >= retries) {
        failed.set(doc.id, why);
        return;
      }
      retried++;
      await sleep(backoffMs * 2 ** attempt);
    }
  }

  async function client(): Promise<void> {
    while (next < docs.length) await send(docs[next++]);
  }

  try {
    await Promise.all(Array.from({ length: Math.min(concurrency, docs.length) }, client));
  } finally {
    await pool.close();
  }
  return { latencies, statuses, failed, retried, ms: performance.now() - t0 };
}

/** The p-th percentile (0..100) of `xs`, nearest rank. */
export function percentile(xs: readonly number[], p: number): number {
  return percentileNearestRank([...xs].sort((a, b) => a - b), p);
}

/** A load generator in a child process (see loadgen-process.ts): `run` uploads the documents given at start. */
export interface LoadGenerator {
  run(url: string, concurrency: number): Promise<UploadReport>;
  close(): Promise<void>;
}

export async function startLoadGenerator(docs: readonly Doc[]): Promise<LoadGenerator> {
  const child = fork(fileURLToPath(new URL('./loadgen-process.ts', import.meta.url)), [], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const reply = () =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const onExit = (code: number | null) => reject(new Error(`load generator exited (code ${code})`));
      child.once('exit', onExit);
      child.once('message', (m) => {
        child.off('exit', onExit);
        resolve(m as Record<string, unknown>);
      });
    });
  child.send({ docs });
  await reply();
  return {
    async run(url, concurrency) {
      child.send({ url, concurrency });
      const m = await reply();
      if (typeof m.error === 'string') throw new Error(m.error);
      return {
        latencies: m.latencies as number[],
        statuses: m.statuses as number[],
        failed: new Map(m.failed as [string, string][]),
        retried: m.retried as number,
        ms: m.ms as number,
      };
    },
    async close() {
      if (child.exitCode === null && child.signalCode === null) {
        child.disconnect();
        await exited;
      }
    },
  };
}
