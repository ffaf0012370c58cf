/**
 * Wrong (on purpose): no sequence check. When the log is read again from an earlier version (a reconnect that
 * resumes from the last position it saved, a consumer that redelivers what was not acknowledged), the replica takes
 * the resubscription point as its position and applies every delivered op, including the ones its engine already
 * has: each redelivered write is applied twice.
 *
 * What differs from after.ts: `resubscribe(from)` restarts the replica as if its engine were at `from - 1`.
 *
 * @rejected-with applied twice
 */
import { openLog as openRight, type LogOptions, type ReplicaHandle, type ReplicatedLog } from '../after.ts';

export type { ApplyFn, LogOptions, ReplicaCount, ReplicaHandle, ReplicatedLog } from '../after.ts';

export async function openLog(opts: LogOptions): Promise<ReplicatedLog> {
  const log = await openRight(opts);
  return {
    where: log.where,
    submit: (op, o) => log.submit(op, o),
    async startReplica(id, fromVersion, apply) {
      let h: ReplicaHandle = await log.startReplica(id, fromVersion, apply);
      return {
        id,
        get version() {
          return h.version;
        },
        async resubscribe(fromSeq: number) {
          await h.stop();
          h = await log.startReplica(id, fromSeq - 1, apply);
        },
        stop: () => h.stop(),
      };
    },
    close: () => log.close(),
    destroy: () => log.destroy(),
  };
}
