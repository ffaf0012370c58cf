/**
 * The checkpoint's world for one graceful shutdown, in virtual ms (nothing is timed): one replica behind a balancer
 * that knows only what the replica's readiness probe says (as HAProxy's `option httpchk`, or the kubelet's readiness
 * probe feeding a Service's endpoints), and a client sending through the balancer every `everyMs`.
 *
 * - The balancer probes `readiness()` every `plan.readiness.periodMs` (its phase: a probe at 0, period, 2 × period…)
 *   and takes the replica out after `failureThreshold` failures in a row; a request it sends meanwhile reaches the
 *   replica whatever state that is in.
 * - SIGTERM arrives at `sigtermAtMs` (just after a probe: the worst case for how long the balancer takes to notice);
 *   the lesson's `shutdown(steps, plan)` runs with `steps` acting on the simulated server: `notReady()` flips what the
 *   readiness probe sees, `drain()` closes the listener (a request sent after that is refused) and resolves when the
 *   last request in flight ends, `cutAll()` and `exit()` cut whatever is in flight.
 * - Every request takes `requestMs`; one more, a long one (a streamed answer), started just before SIGTERM, takes
 *   `longMs`: only a drain deadline gets the process out before the kubelet's SIGKILL at `terminationGraceMs`.
 */
import { VirtualClock } from '../09-fault-recovery/sim.ts';
import type { HealthPlan, PodHealth, ShutdownSteps } from './after.ts';

type Mod = typeof import('./after.ts');

export interface ShutdownRun {
  /** Ordinary requests answered / refused by a closed listener or a dead process / cut while in flight. */
  answered: number;
  refused: number;
  cut: number;
  /** The long request: answered or cut (expected: cut at the drain deadline). */
  longOutcome: 'answered' | 'cut' | 'running';
  /** SIGTERM → the balancer took the replica out, ms (undefined: never). */
  leftBalancerAfterMs?: number;
  /** SIGTERM → the listener closed (drain or exit), ms. */
  closedAfterMs?: number;
  /** SIGTERM → exit, ms; undefined: it never exited by itself (the kubelet's SIGKILL at terminationGraceMs did). */
  exitedAfterMs?: number;
  /** What each step saw, in order: `notReady@0`, `drain@600`, `cutAll@1200`, `exit@1200` (ms after SIGTERM). */
  steps: string[];
}

export interface ShutdownWorld {
  plan: HealthPlan;
  sigtermAtMs?: number;
  everyMs?: number;
  requestMs?: number;
  longMs?: number;
  endMs?: number;
}

export async function simulateShutdown(impl: Mod, w: ShutdownWorld): Promise<ShutdownRun> {
  const { plan } = w;
  const sigtermAt = w.sigtermAtMs ?? 1_010;
  const everyMs = w.everyMs ?? 5;
  const requestMs = w.requestMs ?? 100;
  const longMs = w.longMs ?? 60_000;
  const end = w.endMs ?? sigtermAt + plan.terminationGraceMs + 1_000;
  const clock = new VirtualClock();
  const health: PodHealth = { eventLoopDelayMs: 0, warm: true, depsOk: true, shuttingDown: false };
  let listening = true;
  let exited = false;
  let inRotation = true;
  let failuresInARow = 0;
  const run: ShutdownRun = { answered: 0, refused: 0, cut: 0, longOutcome: 'running', steps: [] };
  const inFlight = new Set<{ long: boolean; cut: boolean }>();
  let onIdle: (() => void) | undefined;
  const rel = () => clock.now() - sigtermAt;
  const cutEverything = () => {
    for (const r of inFlight) {
      r.cut = true;
      if (r.long) run.longOutcome = 'cut';
      else run.cut++;
    }
    inFlight.clear();
    onIdle?.();
  };
  const send = (long: boolean) => {
    if (exited || !listening) {
      if (!long) run.refused++;
      return;
    }
    const r = { long, cut: false };
    inFlight.add(r);
    clock.at(clock.now() + (long ? longMs : requestMs), () => {
      if (r.cut) return;
      inFlight.delete(r);
      if (long) run.longOutcome = 'answered';
      else run.answered++;
      if (inFlight.size === 0) onIdle?.();
    });
  };
  const kill = () => {
    if (exited) return;
    exited = true;
    listening = false;
    run.closedAfterMs ??= rel();
    cutEverything();
  };
  const steps: ShutdownSteps = {
    notReady: () => {
      run.steps.push(`notReady@${rel()}`);
      health.shuttingDown = true;
    },
    drain: () => {
      run.steps.push(`drain@${rel()}`);
      listening = false;
      run.closedAfterMs ??= rel();
      return new Promise<void>((resolve) => {
        if (inFlight.size === 0) return resolve();
        onIdle = resolve;
      });
    },
    cutAll: () => {
      run.steps.push(`cutAll@${rel()}`);
      cutEverything();
    },
    exit: () => {
      run.steps.push(`exit@${rel()}`);
      run.exitedAfterMs ??= rel();
      kill();
    },
    sleep: clock.sleep,
  };
  // the balancer's readiness probe
  const probe = () => {
    if (clock.now() > end) return;
    const ok = !exited && listening && impl.readiness(health);
    if (ok) failuresInARow = 0;
    else if (++failuresInARow >= plan.readiness.failureThreshold && inRotation) {
      inRotation = false;
      if (clock.now() >= sigtermAt) run.leftBalancerAfterMs = rel();
    }
    clock.at(clock.now() + plan.readiness.periodMs, probe);
  };
  clock.at(0, probe);
  // the client, through the balancer
  const client = () => {
    if (clock.now() > end) return;
    if (inRotation) send(false);
    clock.at(clock.now() + everyMs, client);
  };
  clock.at(0, client);
  clock.at(sigtermAt - 10, () => send(true));
  clock.at(sigtermAt, () => void impl.shutdown(steps, plan));
  // the kubelet: SIGKILL when the grace period is over
  clock.at(sigtermAt + plan.terminationGraceMs, () => {
    if (!exited) {
      run.steps.push(`SIGKILL@${rel()}`);
      kill();
    }
  });
  await clock.runUntil(end);
  return run;
}

/** Replicas a Redis outage of `blipMs` restarts: each liveness-probes every period; `failureThreshold` failures in a row restart it. */
export function restartsDuringBlip(impl: Mod, plan: HealthPlan, replicas: number, blipMs: number): number {
  const down: PodHealth = { eventLoopDelayMs: 0, warm: true, depsOk: false, shuttingDown: false };
  if (impl.liveness(down)) return 0;
  // probes every period from a random phase: at least floor(blip / period) of them fall inside the blip
  return Math.floor(blipMs / plan.liveness.periodMs) >= plan.liveness.failureThreshold ? replicas : 0;
}
