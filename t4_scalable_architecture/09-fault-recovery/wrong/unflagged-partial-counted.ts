/**
 * Wrong (on purpose): the restart policy of after.ts, and an availability that trusts every 200: status 200 and not
 * flagged is complete. It overcounts exactly the worst answers: a shard that answered from an empty index (given
 * traffic before it was ready), or a gateway that dropped a shard without saying so, gives a 200 that misses hits and
 * does not say so. Only the reference answer shows it.
 *
 * What differs from after.ts: `classifyAnswer` ignores `expected`.
 *
 * @rejected-with counted an unflagged partial answer as available
 */
import { classifyAnswer as engineClassify, type Answer, type Outcome } from '../../../shared/services/fault-run.ts';

export { keepAlive } from '../after.ts';
export type { ChildHandle, Keeper, RestartPolicy, Traffic } from '../after.ts';

export function classifyAnswer(a: Answer, _expected?: readonly string[]): Outcome {
  return engineClassify(a);
}
