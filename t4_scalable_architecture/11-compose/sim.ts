/**
 * The simulated world the checkpoint (and the bench's simulated rows) runs a bring-up in: a virtual clock, the
 * stack's services as fake containers, and a client that queries the gateway every `everyMs` from the moment the
 * bring-up says the stack is up. Nothing is timed: starts, readiness and answers are counted in virtual ms.
 *
 * How a fake container behaves, as the real ones do:
 * - started with every dependency ready: live at once, ready `readyMs` later;
 * - started while a dependency is not ready yet (a shard before NATS serves JetStream, the gateway before its shards):
 *   it runs (live), is not ready, and fails (`crashes` counts it: a shard exits on connect and `restart:` brings it
 *   back; the gateway answers 503), trying again every `retryMs` (Docker's restart delay; the gateway's retry of
 *   the shards' statistics): it is ready `readyMs` after the first try that finds every dependency ready;
 * - `neverReady`: runs, never ready (a bad config).
 *
 * A query is answered (`ok`) when every service on its path (gateway, embedder, both shards) is ready; otherwise it
 * fails: refused while the gateway is not listening, 503 while it waits for its shards.
 */
import { VirtualClock } from '../09-fault-recovery/sim.ts';
import type { Runtime, StackService } from './after.ts';
import { QUERY_PATH } from './stack.ts';

export { VirtualClock };

export interface EarlyStart {
  service: string;
  at: number;
  /** The dependencies that were not ready then. */
  notReady: string[];
}

export interface SimQuery {
  at: number;
  ok: boolean;
  /** Services on the query's path that were not ready. */
  missing: string[];
}

export class StackWorld {
  readonly clock = new VirtualClock();
  readonly startedAt = new Map<string, number>();
  readonly readyAt = new Map<string, number>();
  readonly early: EarlyStart[] = [];
  readonly queries: SimQuery[] = [];
  /** Starts asked for a service that was already started (a bring-up should start each once). */
  doubleStarts = 0;
  crashes = 0;
  retryMs = 1_000;
  neverReady = new Set<string>();
  private readonly byName: Map<string, StackService>;

  constructor(readonly stack: readonly StackService[]) {
    this.byName = new Map(stack.map((s) => [s.name, s]));
  }

  isReady(name: string): boolean {
    const t = this.readyAt.get(name);
    return t !== undefined && t <= this.clock.t;
  }

  private attempt(name: string): void {
    const svc = this.byName.get(name)!;
    if (this.neverReady.has(name)) return;
    const missing = svc.dependsOn.filter((d) => !this.isReady(d));
    if (missing.length === 0) {
      this.readyAt.set(name, this.clock.t + (svc.readyMs ?? 0));
      return;
    }
    this.crashes++;
    this.clock.at(this.clock.t + this.retryMs, () => this.attempt(name));
  }

  readonly runtime: Runtime = {
    start: (name) => {
      if (!this.byName.has(name)) throw new Error(`no service ${name} in the stack`);
      if (this.startedAt.has(name)) {
        this.doubleStarts++;
        return;
      }
      this.startedAt.set(name, this.clock.t);
      const notReady = this.byName.get(name)!.dependsOn.filter((d) => !this.isReady(d));
      if (notReady.length) this.early.push({ service: name, at: this.clock.t, notReady });
      this.attempt(name);
    },
    ready: async (name) => this.isReady(name),
    live: async (name) => this.startedAt.has(name),
  };

  /** Sends a query every `everyMs` from now until `until`. */
  clientEvery(everyMs: number, until: number): void {
    for (let t = this.clock.t; t < until; t += everyMs) {
      this.clock.at(t, () => {
        const missing = QUERY_PATH.filter((s) => !this.isReady(s));
        this.queries.push({ at: this.clock.t, ok: missing.length === 0, missing });
      });
    }
  }

  /** The longest dependency chain, ms: the shortest possible bring-up. */
  criticalPathMs(): number {
    const memo = new Map<string, number>();
    const longest = (name: string): number => {
      const m = memo.get(name);
      if (m !== undefined) return m;
      const s = this.byName.get(name)!;
      const v = (s.readyMs ?? 0) + Math.max(0, ...s.dependsOn.map(longest));
      memo.set(name, v);
      return v;
    };
    return Math.max(...this.stack.map((s) => longest(s.name)));
  }

  /** Longest chain in services (the probes a health-gated bring-up waits in a row). */
  depth(): number {
    const memo = new Map<string, number>();
    const d = (name: string): number => memo.get(name) ?? (memo.set(name, 1 + Math.max(0, ...this.byName.get(name)!.dependsOn.map(d))), memo.get(name)!);
    return Math.max(...this.stack.map((s) => d(s.name)));
  }
}

export interface SimRun {
  world: StackWorld;
  /** When the bring-up returned (virtual ms), or undefined if it had not by `untilMs`. */
  returnedAt?: number;
  error?: Error;
  /** Every service ready (virtual ms), or undefined. */
  allReadyAt?: number;
}

type BringUp = (stack: readonly StackService[], rt: Runtime, o: { probeIntervalMs: number; readyTimeoutMs: number; now: () => number; sleep: (ms: number) => Promise<void> }) => Promise<unknown>;

/** Runs a bring-up in a fresh world; the client queries every `clientEveryMs` from its return until `untilMs`. */
export async function simulate(bringUp: BringUp, stack: readonly StackService[], opts: { probeIntervalMs?: number; readyTimeoutMs?: number; clientEveryMs?: number; untilMs?: number; setup?: (w: StackWorld) => void } = {}): Promise<SimRun> {
  const w = new StackWorld(stack);
  opts.setup?.(w);
  const until = opts.untilMs ?? 20_000;
  const run: SimRun = { world: w };
  const p = Promise.resolve()
    .then(() => bringUp(stack, w.runtime, { probeIntervalMs: opts.probeIntervalMs ?? 100, readyTimeoutMs: opts.readyTimeoutMs ?? 10_000, now: w.clock.now, sleep: w.clock.sleep }))
    .then(
      () => {
        run.returnedAt = w.clock.t;
        w.clientEvery(opts.clientEveryMs ?? 10, until);
      },
      (err: unknown) => {
        run.error = err instanceof Error ? err : new Error(String(err));
        run.returnedAt = w.clock.t;
      },
    );
  await w.clock.runUntil(until);
  void p;
  const times = stack.map((s) => w.readyAt.get(s.name));
  if (times.every((t) => t !== undefined && t <= until)) run.allReadyAt = Math.max(...(times as number[]));
  return run;
}
