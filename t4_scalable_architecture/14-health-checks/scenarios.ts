/**
 * The two measured scenarios of lesson 14, on real processes: N replicas (replica.ts) under the probe driver
 * (shared/services/probe-driver.ts), probes and shutdown taken from one policy module, a Redis of the run's own
 * (09-fault-recovery/private-redis.ts), and the open-loop load of load.ts through the ready endpoints.
 *
 * - `redisBlip`: Redis killed at `blipAtMs` and started again `blipMs` later; counts the restarts the probes caused,
 *   the failed calls, and the time from Redis back to the service answering again.
 * - `rollingRestart`: each replica in turn gets SIGTERM (its policy's shutdown runs), is started again on its port
 *   and must be ready before the next; counts the failed calls by cause.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Pod, PodSet, type ProbeSpec } from '../../shared/services/probe-driver.ts';
import type { HealthPlan } from './after.ts';
import { startLoad, totalFailed, type LoadReport } from './load.ts';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPLICA = path.join(HERE, 'replica.ts');

type Policy = typeof import('./after.ts');

export interface ReplicaOptions {
  /** The policy module's file (absolute). */
  policyFile: string;
  policy: Policy;
  index: string;
  redisUrl: string;
  replicas: number;
  holdMs: number;
  /** The measured start-up the plan is derived from, ms. */
  startupMs: number;
  coldStartMs?: number;
  keyPrefix: string;
  log?: (line: string) => void;
}

export function planOf(o: Pick<ReplicaOptions, 'policy' | 'startupMs' | 'holdMs'>): HealthPlan {
  return o.policy.plan({ startupMs: o.startupMs, longestRequestMs: o.holdMs + 250 });
}

/** The pods' probes from a plan (the kubelet's view of it). */
export function applyPlan(set: PodSet, p: HealthPlan): void {
  const probe = (pr: HealthPlan['liveness'], pathName: string): ProbeSpec => ({ path: pathName, ...pr });
  for (const pod of set.pods) {
    pod.spec.startup = p.startup && probe(p.startup, '/healthz');
    pod.spec.liveness = probe(p.liveness, '/healthz');
    pod.spec.readiness = probe(p.readiness, '/readyz');
    pod.spec.terminationGraceMs = p.terminationGraceMs;
  }
}

/**
 * The first start (the deploy), measured: every pod under a lenient startup probe (`limitMs`), whatever the plan
 * says, so a slow start under the run's own load is measured instead of killed. Returns each pod's fork → ready, ms.
 */
export async function firstStart(set: PodSet, limitMs = 90_000, pods: Pod[] = set.pods): Promise<number[]> {
  const saved = pods.map((p) => ({ startup: p.spec.startup, liveness: p.spec.liveness }));
  for (const p of pods) p.spec.startup = { path: '/healthz', periodMs: 100, failureThreshold: Math.ceil(limitMs / 100), timeoutMs: 2_000 };
  const t = performance.now();
  const took = await Promise.all(
    pods.map(async (p) => {
      if (p.state !== 'stopped') await p.stop();
      p.start();
      await p.whenReady(limitMs);
      return performance.now() - t;
    }),
  );
  pods.forEach((p, i) => Object.assign(p.spec, saved[i]));
  return took;
}

export function replicaSet(o: ReplicaOptions): PodSet {
  const p = planOf(o);
  const probe = (pr: HealthPlan['liveness'], pathName: string): ProbeSpec => ({ path: pathName, ...pr });
  return new PodSet(
    Array.from(
      { length: o.replicas },
      (_, i) =>
        new Pod({
          name: `replica-${i}`,
          script: REPLICA,
          args: [
            '--index', o.index, '--policy', o.policyFile, '--redis', o.redisUrl, '--hold-ms', String(o.holdMs),
            '--startup-ms', String(o.startupMs), '--cold-start-ms', String(o.coldStartMs ?? 0), '--key-prefix', o.keyPrefix,
          ],
          startup: p.startup && probe(p.startup, '/healthz'),
          liveness: probe(p.liveness, '/healthz'),
          readiness: probe(p.readiness, '/readyz'),
          terminationGraceMs: p.terminationGraceMs,
          log: o.log,
        }),
    ),
  );
}

export interface BlipResult {
  load: LoadReport;
  failed: number;
  /** Liveness (and startup) restarts during the run. */
  restarts: number;
  /** Redis started again → the first call answered 200 that was sent after it, ms (undefined: none in the run). */
  recoveredAfterMs?: number;
  /** performance.now() when Redis answered again. */
  redisBackAt: number;
}

export async function redisBlip(
  set: PodSet,
  redis: { kill(): Promise<void>; restart(): Promise<void> },
  o: { rate: number; blipAtMs: number; blipMs: number; runMs: number; log?: (l: string) => void },
): Promise<BlipResult> {
  const before = set.restarts;
  const load = startLoad({ endpoints: () => set.endpoints(), rate: o.rate });
  const sleepUntil = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms - (performance.now() - load.t0))));
  await sleepUntil(o.blipAtMs);
  await redis.kill();
  o.log?.(`Redis killed at ${((performance.now() - load.t0) / 1000).toFixed(1)} s`);
  await sleepUntil(o.blipAtMs + o.blipMs);
  await redis.restart();
  const backAt = performance.now() - load.t0;
  o.log?.(`Redis answering again at ${(backAt / 1000).toFixed(1)} s`);
  await sleepUntil(o.runMs);
  const r = await load.stop();
  const first = r.calls.filter((c) => c.at >= backAt && c.outcome === 'ok').sort((a, b) => a.at - b.at)[0];
  return { load: r, failed: totalFailed(r), restarts: set.restarts - before, recoveredAfterMs: first ? first.at - backAt : undefined, redisBackAt: load.t0 + backAt };
}

export interface RollingResult {
  load: LoadReport;
  failed: number;
  /** SIGTERM of the first → the last replica ready again, ms. */
  tookMs: number;
  /** Restarted replicas killed by their probes before they were ready (a slow start taken for a stuck one). */
  startKills: number;
  /** Set when a restarted replica was not ready within the limit (the restart stopped there). */
  stuck?: string;
}

export async function rollingRestart(set: PodSet, o: { rate: number; settleMs: number; readyTimeoutMs?: number; log?: (l: string) => void }): Promise<RollingResult> {
  const load = startLoad({ endpoints: () => set.endpoints(), rate: o.rate });
  await new Promise((r) => setTimeout(r, o.settleMs));
  const t = performance.now();
  const kills0 = set.restarts;
  let stuck: string | undefined;
  await set.rollingRestart(o.readyTimeoutMs ?? 60_000).catch((err: Error) => (stuck = err.message));
  const tookMs = performance.now() - t;
  const startKills = set.restarts - kills0;
  o.log?.(`rolling restart of ${set.pods.length} replicas took ${(tookMs / 1000).toFixed(1)} s`);
  await new Promise((r) => setTimeout(r, o.settleMs));
  const r = await load.stop();
  return { load: r, failed: totalFailed(r), tookMs, startKills, stuck };
}

/** `'no endpoint' 3, refused 12, reset 4` — the causes that occurred. */
export function causes(r: LoadReport): string {
  const parts = Object.entries(r.failed)
    .filter(([, n]) => n > 0)
    .map(([k, n]) => `${k} ${n}`);
  return parts.length ? parts.join(', ') : 'none';
}
