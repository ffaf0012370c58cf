/**
 * Wrong (on purpose): a kill switch, not a breaker. After five failures in a row the shard is cut off, and nothing
 * ever tries it again: it recovers in a second, and the gateway answers without it until someone restarts the
 * process. The half-open probe is what makes a breaker close by itself.
 *
 * What differs from after.ts: naive-breaker.ts with `afterCoolDown: 'stay-open'`: no probe after halfOpenAfterMs.
 *
 * @rejected-with the circuit never half-opens
 */
import type { RpcClient } from '../../../shared/services/rpc.ts';
import type { GuardedShard, GuardOptions } from '../after.ts';
import { naiveBreaker } from '../naive-breaker.ts';

export type { CircuitStateName, GuardedShard, GuardOptions } from '../after.ts';

export function guardShard(shard: RpcClient, opts: GuardOptions): GuardedShard {
  return naiveBreaker(shard, opts, 'stay-open');
}
