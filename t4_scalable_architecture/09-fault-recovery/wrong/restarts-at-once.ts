/**
 * Wrong (on purpose): restart the moment a child exits (readiness respected). For a kill -9 it is the fastest way
 * back; for a child that dies on start (a corrupt file, a port taken, a bad config) it is a crash loop that spins:
 * a new process every 50 ms, each loading the index, eating the CPU the healthy services need, and the log flooded.
 *
 * What differs from after.ts: no wait between an exit and the next start.
 *
 * @rejected-with restarting without backoff spins
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
      if (!stopped) restarts++; // and straight back round
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
