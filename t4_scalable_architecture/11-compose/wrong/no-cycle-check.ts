/**
 * Wrong (on purpose): health-gated waves (start everything whose dependencies are ready, wait, repeat) with no check
 * of the graph: when no service can be placed any more it stops and reports the stack up. A cycle (api → worker →
 * api) or a typo in a dependency's name leaves those services never started, and nobody is told.
 *
 * What differs from after.ts: no `checkGraph`: unknown names and cycles are not errors.
 *
 * @rejected-with a dependency cycle is an error
 */
import type { BringUpOptions, BringUpResult, Runtime, StackService } from '../after.ts';

export type { BringUpOptions, BringUpResult, Runtime, StackService } from '../after.ts';

/** Checks nothing. */
export function checkGraph(_stack: readonly StackService[]): void {}

export async function bringUp(stack: readonly StackService[], runtime: Runtime, opts: BringUpOptions): Promise<BringUpResult> {
  const now = opts.now ?? (() => performance.now());
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const readyAt: Record<string, number> = {};
  const ready = new Set<string>();
  for (;;) {
    const wave = stack.filter((s) => !ready.has(s.name) && s.dependsOn.every((d) => ready.has(d)));
    if (wave.length === 0) break;
    for (const s of wave) runtime.start(s.name);
    const t0 = now();
    await Promise.all(
      wave.map(async (s) => {
        while (!(await runtime.ready(s.name))) {
          if (now() - t0 > opts.readyTimeoutMs) throw new Error(`${s.name} was not ready in time`);
          await sleep(opts.probeIntervalMs);
        }
        readyAt[s.name] = now();
        ready.add(s.name);
      }),
    );
  }
  return { readyAt };
}
