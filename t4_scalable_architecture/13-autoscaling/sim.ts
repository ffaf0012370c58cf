/**
 * The checkpoint's world for 13-autoscaling: a virtual clock that syncs every 15 s, pods that are ready
 * `startupMs` after they are created, and a load (total QPS) spread evenly over the ready pods, each of which
 * reports its share as its sample. Removing pods removes those still starting first, then the newest. Nothing is
 * timed: every figure is a count of pods at a virtual instant.
 */
import type { PodMetric } from '../../shared/services/autoscale.ts';

export const SYNC_MS = 15_000;

export interface Decider {
  decide(now: number, current: number, pods: readonly PodMetric[]): number;
}

export interface Tick {
  /** Virtual ms. */
  t: number;
  load: number;
  /** Pods before the decision (starting ones included). */
  current: number;
  ready: number;
  /** What the scaler asked for. */
  desired: number;
}

export interface DriveOptions {
  /** Total load at virtual time t (ms). */
  load: (t: number) => number;
  /** Pods at t = 0, all ready. */
  initial: number;
  /** Virtual ms to run. */
  untilMs: number;
  /** Creation → ready, ms. Default 45,000 (three syncs). */
  startupMs?: number;
}

export function drive(scaler: Decider, o: DriveOptions): Tick[] {
  const startup = o.startupMs ?? 45_000;
  let pods: number[] = Array.from({ length: o.initial }, () => -1);
  const ticks: Tick[] = [];
  for (let t = 0; t <= o.untilMs; t += SYNC_MS) {
    const load = o.load(t);
    const ready = pods.filter((r) => r <= t).length;
    const samples: PodMetric[] = pods.map((r) => (r <= t ? { ready: true, value: load / ready } : { ready: false }));
    const desired = scaler.decide(t, pods.length, samples);
    ticks.push({ t, load, current: pods.length, ready, desired });
    if (desired > pods.length) pods = [...pods, ...Array.from({ length: desired - pods.length }, () => t + startup)];
    else if (desired < pods.length) pods = [...pods].sort((a, b) => a - b).slice(0, Math.max(0, desired));
  }
  return ticks;
}

/** The replica count over time, as a reader would write it: "4 → 5 at 30 s, 5 → 4 at 60 s". */
export function changes(ticks: readonly Tick[]): string[] {
  const out: string[] = [];
  for (const k of ticks) if (k.desired !== k.current) out.push(`${k.current} → ${k.desired} at ${k.t / 1000} s`);
  return out;
}
