/**
 * EXERCISE 04-replicated-writes — let a replica on another machine receive every write, in order, exactly once.
 *
 * As shipped it is before.ts: the local write-ahead log with in-process fan-out (local-log.ts). On one machine it is
 * right, so most of the checkpoint passes; but `openLog` on a second machine opens that machine's own log, and a
 * replica there never sees a write made here.
 *
 * `openLog({ name, dataDir, servers })` is one machine (`servers`: NATS with JetStream, e.g. nats://127.0.0.1:4222).
 * `submit(op, { replicas })` resolves with the write's version once it is stored and applied by the replicas asked
 * for (0: stored is enough; n; 'all', the default: every replica currently in the set). `startReplica(id,
 * fromVersion, apply)` starts a replica whose engine is at `fromVersion` (its snapshot's version) and hands every
 * later write to `apply` (the engine's own). Yours to decide: where the writes go so that every machine can read
 * them, where a replica starts reading, what it does with an op it already has, and when a write is acknowledged.
 *
 * What must hold (checked by `npm run checkpoint -- 04-replicated-writes`, against a real NATS server, each test on
 * its own stream, everything counted from the replicas' ledgers, nothing timed):
 *   - versions are 1…n, one per write, shared by every machine; every replica applies each write exactly once, in
 *     version order, even when some applies are slower than others;
 *   - `replicas: 1` is not acknowledged while no replica has applied the write (a replica held at a gate), `'all'`
 *     not while any replica in the set has not; `replicas: 0` once the write is stored;
 *   - a replica stopped for N writes and restarted from its snapshot at version s applies exactly s + 1 … onwards:
 *     nothing from its snapshot again;
 *   - reading the log again from version 1 (a reconnect, a redelivery) applies nothing twice;
 *   - a replica started through a *second* `openLog` (another machine) applies every write made through the first,
 *     and can acknowledge it; a write made on the second machine gets the next version.
 * Every stream, bucket or file you create is named after `name` and removed by `destroy()`.
 *
 * Then measure write latency beside before and after:
 *   npm run t4 -- --only 04-replicated-writes --impl exercise --quick
 * Stuck? npm run hint -- 04-replicated-writes
 */
import type { WriteAck, WriteOp } from '../../shared/serve/writes.ts';
import type { ApplyFn, ReplicaCount } from '../../shared/services/jetstream-log.ts';
import { openLocalLog } from './local-log.ts';

export type { ApplyFn, ReplicaCount } from '../../shared/services/jetstream-log.ts';

export interface LogOptions {
  /** The index's name: name everything you create after it (unique per test or bench run). */
  name: string;
  /** This machine's data directory. */
  dataDir: string;
  /** NATS servers (e.g. nats://127.0.0.1:4222). */
  servers?: string;
  /** How long a submit waits. Default 10 s. */
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
  /** close(), then deletes the log itself. */
  destroy(): Promise<void>;
}

export function openLog(opts: LogOptions): Promise<ReplicatedLog> {
  return openLocalLog({ ...opts, servers: undefined });
}
