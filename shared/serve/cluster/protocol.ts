/**
 * Cluster mode: a primary process and N workers (node:cluster), each worker serving HTTP from its own copy of the
 * engine. This file is what the primary (primary.ts) and the workers (worker.ts) say to each other.
 *
 * Connections: the primary listens on the service's port and hands every accepted connection to the next serving
 * worker ({conn} with the socket, kept open in the primary until the worker answers {conn-ok}). If the worker dies
 * before it took the connection, the primary closes it: a client is never left with a connection nobody owns (with
 * node:cluster's own round-robin, a connection in transit to a worker that died stayed open in the primary forever,
 * CLOSE-WAIT, and its request was never answered). A connection the worker took dies with the worker: the client
 * sees it closed (ECONNRESET), never a hang.
 *
 * Writes reach every worker, in one order, durable before anyone applies them:
 *
 *   client ──POST──▶ worker A ──IPC {write}──▶ primary: Sequencer gives it version v, appends it to the write-ahead
 *                                              log (fsync, group commit), then sends {apply v} to every live worker
 *   every worker: applies v to its engine (in version order), moves its cache to version v, answers {applied v}
 *   primary: once every live worker answered ──IPC {ack v}──▶ worker A ──200 {version: v}──▶ client
 *
 * With REDIS_URL the first hop is a BullMQ job instead, consumed by a single BullMQ worker in the primary that feeds
 * the same Sequencer; the log and the fan-out stay in the primary.
 *
 * A worker's life: it is forked with the base to load in its environment (the newest snapshot or the saved index,
 * and its version; the primary keeps that base and the log after it until the worker has it). It loads it and says
 * {loaded}; the primary answers {replay} with the writes after that version (and from then on sends it every
 * {apply}); the worker applies them, listens and says {listening}, and from then on gets connections. A worker that
 * cannot load says {fatal} with the reason before it exits.
 *
 * Snapshots: the primary sends {snapshot v} to one worker right after {apply v}; the worker writes its engine at
 * exactly version v (between applying v and v + 1) and answers {snapshotted v}. Metrics: a worker's GET /metrics
 * sends {metrics}; the primary asks every serving worker for its figures ({metrics-req}, a short timeout each) and
 * answers with those that replied, so /metrics works while a worker is being replaced. Shutdown: {drain} (stop
 * accepting, finish in-flight requests, answer {drained}), then a last snapshot, then {exit}.
 *
 * Hot update (reload.ts): a worker's POST /v1/admin/reload sends {reload}; the primary copies the index into the data
 * directory and forks new workers whose base is the copy (at the version it stands for): they load it, replay the
 * writes after that version, get every later {apply} and listen, without connections. The reload record then goes
 * out like a write ({apply} of `{kind: 'reload'}`); just before it each old worker gets {retire seq, urls}: when it
 * reaches that version it stops answering from its engine and sends each request that still reaches it to one of
 * the new workers' URLs (answered with `connection: close`), and exits once its connections are gone. Connections go
 * to the new workers once they applied the record; the primary then answers {reloaded} to the worker that asked.
 */
import type { MetricObjectWithValues, MetricValue } from 'prom-client';
import type { ReloadResult } from '../reload.ts';
import type { ApplyOutcome, LogOp, Presence, WriteAck, WriteOp } from '../writes.ts';

/** Primary → worker. */
export type ToWorker =
  | { t: 'replay'; ops: Array<[number, LogOp]>; namespace: string }
  | { t: 'apply'; seq: number; op: LogOp }
  | { t: 'retire'; seq: number; urls: string[] }
  | { t: 'switched' }
  | { t: 'reloaded'; id: number; result?: ReloadResult; error?: string; status?: number }
  | { t: 'ack'; id: number; ack?: WriteAck; error?: string; status?: number }
  | { t: 'metrics'; id: number; text?: string; error?: string }
  | { t: 'metrics-req'; id: number }
  | { t: 'snapshot'; version: number; dir: string }
  | { t: 'conn'; id: number }
  | { t: 'drain' }
  | { t: 'exit' };

export type WorkerMetrics = Array<MetricObjectWithValues<MetricValue<string>>>;

/** Worker → primary. */
export type ToPrimary =
  | { t: 'loaded'; version: number }
  | { t: 'listening'; url: string }
  | { t: 'fatal'; message: string }
  | { t: 'write'; id: number; op: WriteOp; seen?: Presence }
  | { t: 'applied'; seq: number; outcome: ApplyOutcome }
  | { t: 'metrics'; id: number }
  | { t: 'metrics-data'; id: number; data?: WorkerMetrics; error?: string }
  | { t: 'snapshotted'; version: number; error?: string }
  | { t: 'conn-ok'; id: number }
  | { t: 'drained' }
  | { t: 'reload'; id: number; index?: string };

/** True for anything shaped like one of our messages (node:cluster also carries its own internal ones). */
export const isMessage = (m: unknown): m is { t: string } =>
  typeof m === 'object' && m !== null && typeof (m as { t?: unknown }).t === 'string';

/** What a worker is forked with: the cluster's namespace (cache keys), its write queue, and the base it loads. */
export interface WorkerEnv {
  namespace: string;
  queueName: string;
  /** The saved engine to load: the newest snapshot, or the index. */
  loadDir: string;
  /** The index version that engine is at. */
  loadVersion: number;
  /**
   * The savedAt the folder's manifest must say (a service without a data directory serves the --index folder
   * itself: a worker started after it was rebuilt must not replay the writes on top of another index).
   */
  loadSavedAt?: string;
}

export function workerEnv(e: WorkerEnv): Record<string, string> {
  return {
    RAG_CLUSTER_NAMESPACE: e.namespace,
    RAG_QUEUE_NAME: e.queueName,
    RAG_LOAD_DIR: e.loadDir,
    RAG_LOAD_VERSION: String(e.loadVersion),
    ...(e.loadSavedAt ? { RAG_LOAD_SAVED_AT: e.loadSavedAt } : {}),
  };
}

/** What `workerEnv` passed, read in the worker (`indexDir` when started without a base, e.g. by hand). */
export function readWorkerEnv(indexDir: string): WorkerEnv {
  const namespace = process.env.RAG_CLUSTER_NAMESPACE ?? 'default';
  return {
    namespace,
    queueName: process.env.RAG_QUEUE_NAME ?? `rag-writes-${namespace}`,
    loadDir: process.env.RAG_LOAD_DIR || indexDir,
    loadVersion: Number(process.env.RAG_LOAD_VERSION ?? 0),
    loadSavedAt: process.env.RAG_LOAD_SAVED_AT || undefined,
  };
}
