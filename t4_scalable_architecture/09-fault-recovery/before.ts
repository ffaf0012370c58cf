/**
 * Before: the services started once, with no supervision. The child is started, the address opened to traffic once
 * it is ready, closed when it exits, and that is all: a killed shard stays dead. The gateway's flagged partial
 * answers hide the first loss (the answers are 200 and say what is missing); nothing brings the shard back, and a
 * second loss (the other shard) leaves nothing to answer with.
 */
import type { ChildHandle, Keeper, RestartPolicy, Traffic } from './after.ts';

export { classifyAnswer } from '../../shared/services/fault-run.ts';
export type { ChildHandle, Keeper, RestartPolicy, Traffic } from './after.ts';

export function keepAlive(spawn: () => ChildHandle, traffic: Traffic, policy: RestartPolicy): Keeper {
  const sleep = policy.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  let stopped = false;
  const child = spawn();
  let gone = false;
  void child.exited.then(() => (gone = true));
  void (async () => {
    while (!stopped && !gone && !(await child.ready())) await sleep(policy.probeIntervalMs);
    if (!stopped && !gone) traffic.open();
    await child.exited;
    traffic.close();
  })();
  return {
    restarts: 0,
    stop() {
      stopped = true;
      child.kill();
    },
  };
}
