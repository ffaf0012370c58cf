/**
 * Wrong (on purpose): the replica starts applying each delivered op without waiting for the previous one to finish
 * ("the stream delivers in order, so the applies are in order", and catching up looks faster). The calls start in
 * order, but an ingest that takes longer (more chunks to embed) finishes after the next one: a delete can land before
 * the ingest it follows, and the version the replica reports is not the state its engine holds.
 *
 * What differs from after.ts: the replica's apply returns at once; the engine's apply runs on in the background.
 *
 * @rejected-with catching up 9 writes: applied version
 */
import { openLog as openRight, type LogOptions, type ReplicatedLog } from '../after.ts';

export type { ApplyFn, LogOptions, ReplicaCount, ReplicaHandle, ReplicatedLog } from '../after.ts';

export async function openLog(opts: LogOptions): Promise<ReplicatedLog> {
  const log = await openRight(opts);
  return {
    where: log.where,
    submit: (op, o) => log.submit(op, o),
    startReplica: (id, fromVersion, apply) =>
      log.startReplica(id, fromVersion, async (v, op) => {
        void apply(v, op);
        return { ok: true, result: {} };
      }),
    close: () => log.close(),
    destroy: () => log.destroy(),
  };
}
