/**
 * The measurement the lesson is about: while heavy /search requests run, how long does a cheap GET /healthz take,
 * and how late does the event loop run (monitorEventLoopDelay)? Client and server share this process, so the
 * event-loop delay measured here is the server's.
 */
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { percentileNearestRank } from '../../shared/util/stats.ts';

export interface ProbeResult {
  /** /healthz round trips completed while the heavy requests ran. */
  probes: number;
  healthP50Ms: number;
  healthP99Ms: number;
  healthMaxMs: number;
  /** Event-loop delay percentiles over the scenario (monitorEventLoopDelay, 1 ms resolution). */
  loopP99Ms: number;
  loopMaxMs: number;
  /** Wall time until every /search answered. */
  heavyWallMs: number;
}

/** Nearest-rank percentile of sorted latencies; 0 when no probe came back. */
function percentile(sorted: number[], p: number): number {
  return sorted.length === 0 ? 0 : percentileNearestRank(sorted, p);
}

/**
 * `heavy` clients each send `rounds` /search requests one after another; until they all answered, a prober sends one
 * /healthz after another (a pause of `gapMs` between them). Bounded: at most `maxProbes` probes.
 */
export async function probeWhileBusy(
  url: string,
  opts: { heavy: number; rounds?: number; docs: number; query: string; gapMs?: number; maxProbes?: number },
): Promise<ProbeResult> {
  const gapMs = opts.gapMs ?? 2;
  const maxProbes = opts.maxProbes ?? 2_000;
  const loop = monitorEventLoopDelay({ resolution: 1 });
  loop.enable();
  const t0 = performance.now();
  let done = false;
  const heavy = Promise.all(
    Array.from({ length: opts.heavy }, async () => {
      for (let r = 0; r < (opts.rounds ?? 1); r++) {
        const res = await fetch(`${url}/search?q=${encodeURIComponent(opts.query)}&docs=${opts.docs}`);
        if (!res.ok) throw new Error(`/search answered ${res.status}: ${await res.text()}`);
        await res.json();
      }
    }),
  ).finally(() => {
    done = true;
  });
  const latencies: number[] = [];
  try {
    while (!done && latencies.length < maxProbes) {
      const s = performance.now();
      const res = await fetch(`${url}/healthz`);
      await res.json();
      latencies.push(performance.now() - s);
      await sleep(gapMs);
    }
    await heavy;
  } finally {
    loop.disable();
  }
  const heavyWallMs = performance.now() - t0;
  latencies.sort((a, b) => a - b);
  return {
    probes: latencies.length,
    healthP50Ms: percentile(latencies, 50),
    healthP99Ms: percentile(latencies, 99),
    healthMaxMs: latencies[latencies.length - 1] ?? 0,
    loopP99Ms: loop.percentile(99) / 1e6,
    loopMaxMs: loop.max / 1e6,
    heavyWallMs,
  };
}
