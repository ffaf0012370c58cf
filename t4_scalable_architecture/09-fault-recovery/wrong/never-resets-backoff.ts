/**
 * Wrong (on purpose): restart with backoff and readiness, the wait doubling on every exit, for ever. A crash loop
 * backs off as it should; but the count never starts over, so after one bad patch every later kill -9 of a child that
 * had been running fine for hours waits the longest delay: the shard is away for `maxRestartDelayMs` instead of
 * `restartDelayMs`, for the rest of the process's life.
 *
 * What differs from after.ts: no `stableMs`: the doubling is not reset after a stable run.
 *
 * @rejected-with the backoff never starts over
 */
import type { ChildHandle, Keeper, RestartPolicy, Traffic } from '../after.ts';

export { classifyAnswer } from '../../../shared/services/fault-run.ts';
export type { ChildHandle, Keeper, RestartPolicy, Traffic } from '../after.ts';

export function keepAlive(spawn: () => ChildHandle, traffic: Traffic, policy: RestartPolicy): Keeper {
  const sleep = policy.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  let stopped = false;
  let restarts = 0;
  let current: ChildHandle | undefined;
  void (async () => {
    while (!stopped) {
      const child = spawn();
      current = child;
      let gone = false;
      void child.exited.then(() => (gone = true));
      while (!stopped && !gone && !(await child.ready())) await sleep(policy.probeIntervalMs);
      if (!stopped && !gone) traffic.open();
      await child.exited;
      traffic.close();
      if (stopped) return;
      restarts++;
      await sleep(Math.min(policy.maxRestartDelayMs, policy.restartDelayMs * 2 ** (restarts - 1)));
    }
  })();
  return {
    get restarts() {
      return restarts;
    },
    stop() {
      stopped = true;
      current?.kill();
    },
  };
}
