/**
 * Wrong (on purpose): health-gated, but the healthcheck asks whether the process *runs* (GET /healthz, docker's
 * `running`) instead of whether it can *answer* (GET /readyz). A shard's process runs a moment after its start and
 * loads its index for seconds after: its dependants start before it can serve them, exactly as with no gate.
 *
 * What differs from after.ts: `live()` where `ready()` belongs, for dependencies and for the end of the bring-up.
 *
 * @rejected-with before it was ready
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
  const up = new Map<string, Promise<void>>();
  const healthy = (name: string): Promise<void> => {
    let p = up.get(name);
    if (!p) {
      const deps = byName.get(name)!.dependsOn.map(healthy);
      p = (async () => {
        await Promise.all(deps);
        runtime.start(name);
        while (!(await runtime.live(name))) await sleep(opts.probeIntervalMs); // "healthy" = the process runs
        readyAt[name] = now();
      })();
      up.set(name, p);
    }
    return p;
  };
  await Promise.all(stack.map((s) => healthy(s.name)));
  return { readyAt };
}
