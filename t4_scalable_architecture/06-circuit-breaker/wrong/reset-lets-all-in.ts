/**
 * Wrong (on purpose): a hand-written breaker that, when the cool-down ends, forgets the failures and closes: every
 * call made then goes to the shard at once. If the shard is still down, they all fail (and wait their timeout if it
 * hangs) until five more failures open it again; if it is struggling back, the whole load lands on it at the moment
 * it is weakest. Half-open means one probe decides, not a stampede.
 *
 * What differs from after.ts: naive-breaker.ts with `afterCoolDown: 'reset'` instead of cockatiel's half-open state.
 *
 * @rejected-with not one probe
 */
import type { RpcClient } from '../../../shared/services/rpc.ts';
import type { GuardedShard, GuardOptions } from '../after.ts';
import { naiveBreaker } from '../naive-breaker.ts';

export type { CircuitStateName, GuardedShard, GuardOptions } from '../after.ts';

export function guardShard(shard: RpcClient, opts: GuardOptions): GuardedShard {
  return naiveBreaker(shard, opts, 'reset');
}
