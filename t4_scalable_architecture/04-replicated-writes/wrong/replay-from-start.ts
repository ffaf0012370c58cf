/**
 * Wrong (on purpose): a replica reads the stream from its first message, whatever its snapshot holds ("the log is the
 * truth, replay it all"). A replica restarted from a snapshot at version s applies writes 1…s a second time on top
 * of an engine that already has them: an ingest is re-chunked and re-embedded (and a delete followed by a re-ingest
 * of the same id flickers back), and catching up costs the whole log instead of the writes it missed.
 *
 * What differs from after.ts: every replica starts at version 0 instead of its snapshot's `fromVersion`.
 *
 * @rejected-with writes already in its snapshot
 */
import { openLog as openRight, type LogOptions, type ReplicatedLog } from '../after.ts';

export type { ApplyFn, LogOptions, ReplicaCount, ReplicaHandle, ReplicatedLog } from '../after.ts';

export async function openLog(opts: LogOptions): Promise<ReplicatedLog> {
  const log = await openRight(opts);
  return {
    where: log.where,
    submit: (op, o) => log.submit(op, o),
    startReplica: (id, _fromVersion, apply) => log.startReplica(id, 0, apply),
    close: () => log.close(),
    destroy: () => log.destroy(),
  };
}
