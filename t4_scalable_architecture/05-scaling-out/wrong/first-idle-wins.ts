/**
 * Wrong (on purpose): least outstanding calls, skipping replicas marked down, with ties to the lowest index. Under a
 * light load nothing is ever in flight when a call arrives, so every call ties and replica 0 gets all of them: the
 * other replicas sit idle until replica 0 is saturated.
 *
 * What differs from after.ts: the scan starts at 0 every time instead of at the cursor.
 *
 * @rejected-with not 30 each
 */
import { ReplicaSet, type PickRule, type ReplicaSetOptions } from '../../../shared/services/replica-set.ts';
import type { RpcClient } from '../../../shared/services/rpc.ts';

export type { PickRule, ReplicaView } from '../../../shared/services/replica-set.ts';

export const pick: PickRule = (replicas, now) => {
  let best = -1;
  for (let i = 0; i < replicas.length; i++) {
    if (replicas[i].downUntil > now) continue;
    if (best < 0 || replicas[i].inFlight < replicas[best].inFlight) best = i;
  }
  return best >= 0 ? best : 0;
};

export function replicaSet(replicas: readonly RpcClient[], opts: Omit<ReplicaSetOptions, 'pick'> = {}): ReplicaSet {
  return new ReplicaSet(replicas, { ...opts, pick });
}
