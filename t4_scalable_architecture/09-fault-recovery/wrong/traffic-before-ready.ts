/**
 * Wrong (on purpose): restart with backoff, and give the new child traffic as soon as it is started (the process
 * is running, so it must be up). It is not: it has not loaded its index yet. Requests that reach it in those
 * seconds get 200 with nothing from that shard, and the gateway cannot tell: the answer is partial and unflagged,
 * worse than the flagged partial answer a closed address gives.
 *
 * What differs from after.ts: `traffic.open()` right after `spawn()`, no readiness probe.
 *
 * @rejected-with while it was loading (not ready)
 */
import type { ChildHandle, Keeper, RestartPolicy, Traffic } from '../after.ts';

export { classifyAnswer } from '../../../shared/services/fault-run.ts';
export type { ChildHandle, Keeper, RestartPolicy, Traffic } from '../after.ts';

export function keepAlive(spawn: () => ChildHandle, traffic: Traffic, policy: RestartPolicy): Keeper {
  const now = policy.now ?? (() => performance.now());
  const sleep = policy.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  let stopped = false;
  let restarts = 0;
  let crashesInRow = 0;
  let current: ChildHandle | undefined;
  void (async () => {
    while (!stopped) {
      const child = spawn();
      current = child;
      const startedAt = now();
      traffic.open(); // it is running, so it is up
      await child.exited;
      traffic.close();
      if (stopped) return;
      crashesInRow = now() - startedAt < policy.stableMs ? crashesInRow + 1 : 1;
      restarts++;
      await sleep(Math.min(policy.maxRestartDelayMs, policy.restartDelayMs * 2 ** (crashesInRow - 1)));
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
