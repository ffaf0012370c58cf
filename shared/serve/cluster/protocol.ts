/**
 * Cluster mode: a primary process and N workers (node:cluster) that each load the same saved index and share the
 * listening port. This file is what the primary (primary.ts) and the workers (worker.ts) say to each other.
 *
 * Writes reach every worker, in one order, before they are acknowledged:
 *
 *   client ──POST──▶ worker A ──IPC {write}──▶ primary: Sequencer gives it version v, appends it to the op log,
 *                                              sends {apply v} to every live worker
 *   every worker: applies v to its engine (in version order), moves its cache to version v, answers {applied v}
 *   primary: once every live worker answered ──IPC {ack v}──▶ worker A ──200 {version: v}──▶ client
 *
 * With REDIS_URL the first hop is a BullMQ job instead (durable, ordered), consumed by a single BullMQ worker in the
 * primary that feeds the same Sequencer; the fan-out stays on IPC.
 *
 * So when a client holds an acknowledgement for version v, every worker already answers at version ≥ v, and every
 * cache key (in-process or Redis) it builds names version ≥ v: nothing computed before the write can be served.
 *
 * A worker's life: it loads the index and says {loaded}; the primary answers {replay} with every write so far (and
 * from then on sends it every {apply}); the worker applies them, listens and says {listening}. {metrics} asks the
 * primary for all workers' metrics (GET /metrics); {shutdown} asks a worker to close gracefully.
 */
import type { ApplyOutcome, WriteAck, WriteOp } from '../writes.ts';

/** Primary → worker. */
export type ToWorker =
  | { t: 'replay'; ops: Array<[number, WriteOp]>; namespace: string }
  | { t: 'apply'; seq: number; op: WriteOp }
  | { t: 'ack'; id: number; ack?: WriteAck; error?: string }
  | { t: 'metrics'; id: number; text?: string; error?: string }
  | { t: 'shutdown' };

/** Worker → primary. */
export type ToPrimary =
  | { t: 'loaded' }
  | { t: 'listening'; url: string }
  | { t: 'write'; id: number; op: WriteOp }
  | { t: 'applied'; seq: number; outcome: ApplyOutcome }
  | { t: 'metrics'; id: number };

/** True for anything shaped like one of our messages (node:cluster also carries its own internal ones). */
export const isMessage = (m: unknown): m is { t: string } =>
  typeof m === 'object' && m !== null && typeof (m as { t?: unknown }).t === 'string';

/** The environment a worker is forked with: the cluster's namespace (cache keys) and its write queue's name. */
export function workerEnv(namespace: string, queueName: string): Record<string, string> {
  return { RAG_CLUSTER_NAMESPACE: namespace, RAG_QUEUE_NAME: queueName };
}

/** What `workerEnv` passed, read in the worker. */
export function readWorkerEnv(): { namespace: string; queueName: string } {
  const namespace = process.env.RAG_CLUSTER_NAMESPACE ?? 'default';
  return { namespace, queueName: process.env.RAG_QUEUE_NAME ?? `rag-writes-${namespace}` };
}
