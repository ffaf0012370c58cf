/**
 * Wrong (on purpose): the safe-looking serial bring-up: services in dependency order, each started and waited for
 * until ready before the next one starts. Nothing starts early and it returns when all are ready, but Redis, NATS,
 * PostgreSQL, Prometheus, the embedder and both shards, which do not depend on each other, wait for each other:
 * the bring-up takes the sum of every start-up instead of the longest dependency chain.
 *
 * What differs from after.ts: one service at a time instead of every service whose dependencies are ready at once.
 *
 * @rejected-with one after another
 */
import { checkGraph } from '../after.ts';
import type { BringUpOptions, BringUpResult, Runtime, StackService } from '../after.ts';

export type { BringUpOptions, BringUpResult, Runtime, StackService } from '../after.ts';
export { checkGraph } from '../after.ts';

export async function bringUp(stack: readonly StackService[], runtime: Runtime, opts: BringUpOptions): Promise<BringUpResult> {
  const now = opts.now ?? (() => performance.now());
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  checkGraph(stack);
  const readyAt: Record<string, number> = {};
  const done = new Set<string>();
  while (done.size < stack.length) {
    const s = stack.find((x) => !done.has(x.name) && x.dependsOn.every((d) => done.has(d)))!;
    runtime.start(s.name);
    const t0 = now();
    while (!(await runtime.ready(s.name))) {
      if (now() - t0 > opts.readyTimeoutMs) throw new Error(`${s.name} was not ready ${opts.readyTimeoutMs} ms after its start`);
      await sleep(opts.probeIntervalMs);
    }
    readyAt[s.name] = now();
    done.add(s.name);
  }
  return { readyAt };
}
