/**
 * Wrong (on purpose): round robin, the rule every load balancer starts with. Even while every replica is healthy
 * and equally fast; but a replica that is slow right now (calls stuck in flight) keeps getting its 1/n, and a dead
 * one keeps getting tried.
 *
 * What differs from after.ts: whose turn it is, nothing about the replicas.
 *
 * @rejected-with has a call stuck in flight and was handed
 */
import { ReplicaSet, type PickRule, type ReplicaSetOptions } from '../../../shared/services/replica-set.ts';
import type { RpcClient } from '../../../shared/services/rpc.ts';

export type { PickRule, ReplicaView } from '../../../shared/services/replica-set.ts';

export const pick: PickRule = (replicas, _now, cursor) => cursor % replicas.length;

export function replicaSet(replicas: readonly RpcClient[], opts: Omit<ReplicaSetOptions, 'pick'> = {}): ReplicaSet {
  return new ReplicaSet(replicas, { ...opts, pick });
}
