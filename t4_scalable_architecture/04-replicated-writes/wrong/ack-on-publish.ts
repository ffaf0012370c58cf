/**
 * Wrong (on purpose): the write is acknowledged as soon as the stream has it, whatever the caller asked for. The
 * stream ack is real durability (the write survives the writer and every replica), so this looks finished; but a
 * caller that asked for `replicas: 1` or `'all'` wanted read-your-writes: a query sent right after the ack, to a
 * replica that has not applied the write yet, does not see it.
 *
 * What differs from after.ts: `submit` always waits for the stream only (`replicas: 0`).
 *
 * @rejected-with acknowledged with replicas: 1 while no replica had applied it
 */
import { openLog as openRight, type LogOptions, type ReplicatedLog } from '../after.ts';

export type { ApplyFn, LogOptions, ReplicaCount, ReplicaHandle, ReplicatedLog } from '../after.ts';

export async function openLog(opts: LogOptions): Promise<ReplicatedLog> {
  const log = await openRight(opts);
  return {
    where: log.where,
    submit: (op) => log.submit(op, { replicas: 0 }),
    startReplica: (id, fromVersion, apply) => log.startReplica(id, fromVersion, apply),
    close: () => log.close(),
    destroy: () => log.destroy(),
  };
}
