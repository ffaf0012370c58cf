/**
 * Wrong (on purpose): plain `depends_on` order: a service is started once its dependencies are *started*, then
 * the whole stack is waited for. It returns at the right time, but on the way a shard starts while NATS is still
 * opening JetStream (it dies on connect and waits for Docker's restart) and the gateway before its shards: crash
 * loops at every `up`, and a slower bring-up than the health-gated one.
 *
 * What differs from after.ts: a dependency counts once started, not once ready.
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
  const started = new Set<string>();
  while (started.size < stack.length) {
    for (const s of stack.filter((x) => !started.has(x.name) && x.dependsOn.every((d) => started.has(d)))) {
      runtime.start(s.name);
      started.add(s.name);
    }
  }
  const readyAt: Record<string, number> = {};
  const t0 = now();
  for (const s of stack) {
    while (!(await runtime.ready(s.name))) {
      if (now() - t0 > opts.readyTimeoutMs) throw new Error(`${s.name} was not ready in time`);
      await sleep(opts.probeIntervalMs);
    }
    readyAt[s.name] = now();
  }
  return { readyAt };
}
