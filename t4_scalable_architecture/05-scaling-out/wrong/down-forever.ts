/**
 * Wrong (on purpose): least outstanding with rotating ties, and a replica that was ever marked down is never picked
 * again (while another is left). The supervisor restarts a dead replica on the same address within seconds; this
 * rule never finds out, and the shard runs on fewer replicas after every blip until the gateway restarts.
 *
 * What differs from after.ts: `downUntil > 0` instead of `downUntil > now`.
 *
 * @rejected-with a down mark ends
 */
import { ReplicaSet, type PickRule, type ReplicaSetOptions } from '../../../shared/services/replica-set.ts';
import type { RpcClient } from '../../../shared/services/rpc.ts';

export type { PickRule, ReplicaView } from '../../../shared/services/replica-set.ts';

export const pick: PickRule = (replicas, _now, cursor) => {
  let best = -1;
  for (let k = 0; k < replicas.length; k++) {
    const i = (cursor + k) % replicas.length;
    if (replicas[i].downUntil > 0) continue;
    if (best < 0 || replicas[i].inFlight < replicas[best].inFlight) best = i;
  }
  return best >= 0 ? best : cursor % replicas.length;
};

export function replicaSet(replicas: readonly RpcClient[], opts: Omit<ReplicaSetOptions, 'pick'> = {}): ReplicaSet {
  return new ReplicaSet(replicas, { ...opts, pick });
}
