/**
 * Before: plain `depends_on` (a list, no conditions, no healthchecks) and `docker-compose up -d`.
 *
 * Compose then orders the *starts*: a service is created once its dependencies' containers run, whatever they are
 * doing inside. A shard starts while NATS is still opening its JetStream store and dies on connect; the gateway starts
 * while the shards load their index and answers 503 until they do. And `up -d` returns as soon as the last
 * container is started: the client that sends its first request then gets errors for seconds.
 *
 * What differs from after.ts: a dependency counts once started (not ready), and it returns once all are started.
 */
import { checkGraph } from './after.ts';
import type { BringUpOptions, BringUpResult, Runtime, StackService } from './after.ts';

export type { BringUpOptions, BringUpResult, Runtime, StackService } from './after.ts';
export { checkGraph } from './after.ts';

export async function bringUp(stack: readonly StackService[], runtime: Runtime, opts: BringUpOptions): Promise<BringUpResult> {
  const now = opts.now ?? (() => performance.now());
  checkGraph(stack); // Compose refuses these too: "Circular dependency between …"
  const started = new Set<string>();
  // start in dependency order (Compose's), each as soon as its dependencies are started
  while (started.size < stack.length) {
    const next = stack.filter((s) => !started.has(s.name) && s.dependsOn.every((d) => started.has(d)));
    if (next.length === 0) throw new Error(`dependency cycle or unknown dependency among ${stack.filter((s) => !started.has(s.name)).map((s) => s.name).join(', ')}`);
    for (const s of next) {
      runtime.start(s.name);
      started.add(s.name);
    }
  }
  const t = now();
  return { readyAt: Object.fromEntries(stack.map((s) => [s.name, t])) }; // "up -d" is done: everything "runs"
}
