/**
 * Wrong (on purpose): the restart policy of after.ts, and an availability that counts only complete answers: a
 * partial or degraded answer is "not what was asked", so it is a failure. It undercounts: a flagged answer is a 200
 * that says exactly what it left out, which the client can show, retry later or pass on; that is what the gateway's
 * flags are for. Counted as failures, a shard's restart reads as an outage the users never had, and the fault run
 * cannot tell "flagged for 300 ms" from "5xx for 300 ms".
 *
 * What differs from after.ts: `classifyAnswer` maps flagged to failed.
 *
 * @rejected-with counted a flagged answer as a failure
 */
import { classifyAnswer as engineClassify, type Answer, type Outcome } from '../../../shared/services/fault-run.ts';

export { keepAlive } from '../after.ts';
export type { ChildHandle, Keeper, RestartPolicy, Traffic } from '../after.ts';

export function classifyAnswer(a: Answer, expected?: readonly string[]): Outcome {
  const o = engineClassify(a, expected);
  return o === 'flagged' ? 'failed' : o;
}
