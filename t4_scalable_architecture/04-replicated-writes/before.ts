/**
 * 04-replicated-writes, before: the engine's embedded write path. One process numbers every write, appends it to the
 * local write-ahead log and fans it out to the replicas of its own process tree (in the engine: the cluster primary,
 * its WAL and node:cluster IPC to the workers; here the replicas are objects in the same process, local-log.ts).
 *
 * The honest baseline: on one machine it is right (in order, exactly once, durable before applied, acknowledged
 * after the replicas asked for) and fast (an fdatasync and a function call). It does not grow past the machine:
 * `openLog` on a second machine opens that machine's own log, with its own counter, and a replica there never
 * receives a write made here. `servers` is accepted and ignored.
 */
import type { LogOptions, ReplicatedLog } from './after.ts';
import { openLocalLog } from './local-log.ts';

export type { ApplyFn, LogOptions, ReplicaCount, ReplicaHandle, ReplicatedLog } from './after.ts';

export function openLog(opts: LogOptions): Promise<ReplicatedLog> {
  return openLocalLog({ ...opts, servers: undefined });
}
