/**
 * Wrong (on purpose): every start is health-gated, but the bring-up returns as soon as the last service is *started*,
 * as `docker-compose up -d` does: the gateway (the last one) is still loading, and the client's first requests
 * are refused or answered 503.
 *
 * What differs from after.ts: it does not wait for the services nothing depends on (the gateway, Prometheus,
 * PostgreSQL) to be ready before returning.
 *
 * @rejected-with requests sent after it failed
 */
import { checkGraph } from '../after.ts';
import type { BringUpOptions, BringUpResult, Runtime, StackService } from '../after.ts';

export type { BringUpOptions, BringUpResult, Runtime, StackService } from '../after.ts';
export { checkGraph } from '../after.ts';

export async function bringUp(stack: readonly StackService[], runtime: Runtime, opts: BringUpOptions): Promise<BringUpResult> {
  const now = opts.now ?? (() => performance.now());
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  checkGraph(stack);
  const byName = new Map(stack.map((s) => [s.name, s]));
  const readyAt: Record<string, number> = {};
  const started = new Map<string, Promise<void>>();
  const readyOf = new Map<string, Promise<void>>();
  const ready = (name: string): Promise<void> => {
    let p = readyOf.get(name);
    if (!p) {
      p = (async () => {
        await start(name);
        while (!(await runtime.ready(name))) await sleep(opts.probeIntervalMs);
        readyAt[name] = now();
      })();
      readyOf.set(name, p);
    }
    return p;
  };
  const start = (name: string): Promise<void> => {
    let p = started.get(name);
    if (!p) {
      const deps = byName.get(name)!.dependsOn.map(ready);
      p = Promise.all(deps).then(() => runtime.start(name));
      started.set(name, p);
    }
    return p;
  };
  await Promise.all(stack.map((s) => start(s.name))); // every container started: "done"
  return { readyAt };
}
