/**
 * 04-replicated-writes, after: the writes go to a NATS JetStream stream, and every replica, on any machine that
 * reaches the NATS server, reads it from its snapshot's version + 1 and applies it in order.
 *
 * `openLog({ name, dataDir, servers })` stands for one machine: its own connection to NATS (or, without `servers`,
 * its own disk). Through it:
 *   - `submit(op, { replicas })` publishes the op to the stream `RAG_<name>` (subject `rag.<name>.writes`, file
 *     storage, created if absent); the stream's sequence is the write's version. It resolves once the stream has it
 *     (`replicas: 0`), once n replicas applied it (`replicas: n`), or once every registered replica did (`'all'`,
 *     the default);
 *   - `startReplica(id, fromVersion, apply)` starts a replica whose engine is at `fromVersion` (its snapshot's): it
 *     reads the stream from fromVersion + 1 with an ordered consumer and hands each op to `apply` (the engine's own,
 *     writes.ts `applyWrite`) strictly in order, skipping what it already applied (sequence check), and reports each
 *     version it applied (a core NATS message with the outcome, and its KV key in `RAG_<name>_replicas`).
 *
 * The mechanism is the engine's (shared/services/jetstream-log.ts: JetStreamWritePath, JetStreamReplica); this file
 * gives it the lesson's interface. Without `servers`, the log is the embedded one (local-log.ts): the local
 * write-ahead log with in-process fan-out, still the default for one machine.
 */
import type { WriteAck, WriteOp } from '../../shared/serve/writes.ts';
import {
  connectNats,
  deleteWriteLog,
  JetStreamReplica,
  JetStreamWritePath,
  type ApplyFn,
  type ReplicaCount,
} from '../../shared/services/jetstream-log.ts';
import { openLocalLog } from './local-log.ts';

export type { ApplyFn, ReplicaCount } from '../../shared/services/jetstream-log.ts';

export interface LogOptions {
  /** The index's name: the stream, subjects and bucket are named after it (unique per test or bench run). */
  name: string;
  /** This machine's data directory (the local write-ahead log lives there). */
  dataDir: string;
  /** NATS servers (e.g. nats://127.0.0.1:4222). Without: the embedded local log. */
  servers?: string;
  /** How long a submit waits for the stream and the replicas. Default 10 s. */
  timeoutMs?: number;
}

export interface ReplicaHandle {
  readonly id: string;
  /** The highest version this replica applied. */
  readonly version: number;
  /** Reads the log again from version `fromSeq` (a reconnect, a redelivery): nothing may be applied twice. */
  resubscribe(fromSeq: number): Promise<void>;
  /** Stops this replica and takes it out of the replica set ('all' no longer waits for it). */
  stop(): Promise<void>;
}

export interface ReplicatedLog {
  /** Where the writes go, for messages. */
  readonly where: string;
  /** Resolves once the write is stored and applied by the replicas asked for (default 'all'). */
  submit(op: WriteOp, opts?: { replicas?: ReplicaCount }): Promise<WriteAck>;
  /** A replica whose engine is at `fromVersion` (its snapshot's version), applying every later write in order. */
  startReplica(id: string, fromVersion: number, apply: ApplyFn): Promise<ReplicaHandle>;
  /** Stops the replicas started here and disconnects; the log stays. */
  close(): Promise<void>;
  /** close(), then deletes the log itself (the stream and bucket, or the data directory). */
  destroy(): Promise<void>;
}

export async function openLog(opts: LogOptions): Promise<ReplicatedLog> {
  if (!opts.servers) return openLocalLog(opts);
  const nc = await connectNats(opts.servers);
  const writer = await JetStreamWritePath.open({ nc, index: opts.name, timeoutMs: opts.timeoutMs });
  const replicas = new Set<JetStreamReplica>();
  const close = async () => {
    await Promise.all([...replicas].map((r) => r.stop()));
    await writer.close();
    await nc.drain().catch(() => {});
  };
  return {
    where: `stream RAG_${opts.name} at ${opts.servers}`,
    submit: (op, o = {}) => writer.submit(op, undefined, { replicas: o.replicas ?? 'all' }),
    async startReplica(id, fromVersion, apply) {
      const r = await JetStreamReplica.start({ nc, index: opts.name, id, fromVersion, apply });
      replicas.add(r);
      return {
        id,
        get version() {
          return r.version;
        },
        resubscribe: (fromSeq) => r.resubscribe(fromSeq),
        stop: async () => {
          replicas.delete(r);
          await r.stop();
        },
      };
    },
    close,
    async destroy() {
      // the log first: a replica stuck in an apply cannot keep the stream alive
      await writer.close();
      await deleteWriteLog(nc, opts.name);
      await Promise.all([...replicas].map((r) => r.halt()));
      replicas.clear();
      await nc.drain().catch(() => {});
    },
  };
}
