/**
 * Exercise (t4/05 scaling out): the balancer's pick rule. A shard now runs as several replicas (processes holding
 * the same part of the index); the replica set (shared/services/replica-set.ts) asks this function which one gets
 * the next call, then counts the call in flight, and marks a replica that answered UNAVAILABLE down for `downMs`
 * (and sends the call once more, to the replica you pick next).
 *
 * What must hold (`npm run checkpoint -- 05-scaling-out`):
 *   - calls that arrive one at a time are spread evenly over healthy replicas;
 *   - a replica with calls stuck in flight is not handed more while others are idle;
 *   - a replica marked down (`downUntil > now`) is not picked until its mark ends, and is picked again after;
 *   - when every replica is marked down, one is still returned (the caller gets a real answer or a real error);
 *   - the answers are the same whichever replica gives them (that part is the replicas', not yours).
 *
 * Return an index into `replicas` (never empty). `cursor` grows by one per pick.
 *
 * As shipped: round robin, which is right while every replica is healthy and equally fast.
 */
import { ReplicaSet, type PickRule, type ReplicaSetOptions } from '../../shared/services/replica-set.ts';
import type { RpcClient } from '../../shared/services/rpc.ts';

export type { PickRule, ReplicaView } from '../../shared/services/replica-set.ts';

export const pick: PickRule = (replicas, _now, cursor) => {
  // TODO: decide with what you know of each replica (inFlight, downUntil), not only whose turn it is
  return cursor % replicas.length;
};

export function replicaSet(replicas: readonly RpcClient[], opts: Omit<ReplicaSetOptions, 'pick'> = {}): ReplicaSet {
  return new ReplicaSet(replicas, { ...opts, pick });
}
