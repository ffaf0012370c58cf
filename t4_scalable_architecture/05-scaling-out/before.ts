/**
 * Before: one replica per shard. The replica set has copies, but every call goes to the first one: the others hold
 * the same part of the index and sit idle, and when the first one is down every call pays a failed attempt before
 * the retry goes elsewhere. (The same throughput as a single process per shard, which is what this lesson scales.)
 */
import { ReplicaSet, type PickRule, type ReplicaSetOptions } from '../../shared/services/replica-set.ts';
import type { RpcClient } from '../../shared/services/rpc.ts';

export type { PickRule, ReplicaView } from '../../shared/services/replica-set.ts';

export const pick: PickRule = () => 0;

export function replicaSet(replicas: readonly RpcClient[], opts: Omit<ReplicaSetOptions, 'pick'> = {}): ReplicaSet {
  return new ReplicaSet(replicas, { ...opts, pick });
}
