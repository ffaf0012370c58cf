/**
 * The balancer's pick rule (the engine's copy is `leastOutstanding` in shared/services/replica-set.ts, which every
 * replicated shard of `npm run t4:up -- --replicas R` uses):
 *
 * - **Least outstanding calls.** Each replica of a shard holds the same part of the index, so any of them gives the
 *   same answer; what differs is how busy it is. The one with the fewest calls in flight is the one that will answer
 *   first. A replica that is slow right now (a GC pause, its core shared with the load generator) keeps calls in
 *   flight and is given fewer until it catches up; round robin would keep giving it its 1/n.
 * - **Ties rotate.** With calls arriving one at a time every replica has 0 in flight: a rotating start (`cursor`)
 *   spreads them evenly instead of sending all to the first one.
 * - **A replica marked down is skipped until its mark ends.** The replica set marks a replica that answered
 *   UNAVAILABLE (connection refused: it is restarting) down for `downMs`; a dead replica answers in a millisecond, so
 *   it never has calls in flight and least-outstanding alone would prefer it. After the mark it is tried again.
 * - **All down: the one back soonest.** Better a real answer or a real error than none.
 */
import { ReplicaSet, type PickRule, type ReplicaSetOptions } from '../../shared/services/replica-set.ts';
import type { RpcClient } from '../../shared/services/rpc.ts';

export type { PickRule, ReplicaView } from '../../shared/services/replica-set.ts';

export const pick: PickRule = (replicas, now, cursor) => {
  let best = -1;
  for (let k = 0; k < replicas.length; k++) {
    const i = (cursor + k) % replicas.length; // ties go to the first one after the cursor
    if (replicas[i].downUntil > now) continue; // marked down: skipped until the mark ends
    if (best < 0 || replicas[i].inFlight < replicas[best].inFlight) best = i;
  }
  if (best >= 0) return best;
  for (let i = 0; i < replicas.length; i++) if (best < 0 || replicas[i].downUntil < replicas[best].downUntil) best = i;
  return best;
};

/** A replica set over `replicas` that picks with this file's rule (the checkpoint and the bench build theirs with it). */
export function replicaSet(replicas: readonly RpcClient[], opts: Omit<ReplicaSetOptions, 'pick'> = {}): ReplicaSet {
  return new ReplicaSet(replicas, { ...opts, pick });
}

