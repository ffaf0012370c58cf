/**
 * Wrong (on purpose): least outstanding calls with rotating ties, and the down marks ignored. A replica that is down
 * refuses the connection in a millisecond, so it never has a call in flight: least-outstanding keeps choosing it
 * (the "black hole" of least-connections), and every such call pays a failed attempt before its retry.
 *
 * What differs from after.ts: `downUntil` is not looked at.
 *
 * @rejected-with was still tried
 */
import { ReplicaSet, type PickRule, type ReplicaSetOptions } from '../../../shared/services/replica-set.ts';
import type { RpcClient } from '../../../shared/services/rpc.ts';

export type { PickRule, ReplicaView } from '../../../shared/services/replica-set.ts';

export const pick: PickRule = (replicas, _now, cursor) => {
  let best = -1;
  for (let k = 0; k < replicas.length; k++) {
    const i = (cursor + k) % replicas.length;
    if (best < 0 || replicas[i].inFlight < replicas[best].inFlight) best = i;
  }
  return best;
};

export function replicaSet(replicas: readonly RpcClient[], opts: Omit<ReplicaSetOptions, 'pick'> = {}): ReplicaSet {
  return new ReplicaSet(replicas, { ...opts, pick });
}
