/**
 * Benchmark for 08-load-balancing. Two kinds of numbers:
 *
 * - the variants time the DECISION: 10,000 picks over 8 backends with requests in flight (what a balancer costs per
 *   request, wall clock);
 * - `extras` carry what the lesson is about, from a deterministic discrete-event simulation (simulate.ts, virtual
 *   time): p50 / p99 latency per strategy over 8 replicas, one at half speed, under the same seeded arrival stream,
 *   p99 against load, and the share of keys that move when a backend joins or leaves (modulo vs hash ring).
 *
 * Run: npm run t1 -- --only 08-load-balancing [--quick]
 */
import { performance } from 'node:perf_hooks';
import { defineLesson, type CurvePoint, type Metric } from '../../shared/lab/lesson.ts';
import * as after from './after.ts';
import * as before from './before.ts';
import { movedFraction, simulate, unevenBackends, type SimBackend } from './simulate.ts';
import { hashBalancer, leastConnections } from './strategies.ts';
import type { Balancer, BackendSpec } from './types.ts';

interface Size {
  /** Simulated requests per (strategy, load) point. */
  requests: number;
  /** Keys placed in the remapping experiment. */
  keys: number;
  /** Decisions per variant call. */
  decisions: number;
}

const REPLICAS = 8;
const SLOW_FACTOR = 2;
const HEADLINE_LOAD = 0.7;
const LOADS = [0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9];
const SEED = 42;
const IN_FLIGHT = 32;

/** The strategies, each a fresh balancer over the simulated backends. Weighted RR is given the true capacities. */
const STRATEGIES: Record<string, (b: SimBackend[]) => Balancer> = {
  'round-robin': (b) => before.createBalancer(plain(b)),
  'weighted round-robin': (b) => before.createBalancer(b.map(({ id, weight }) => ({ id, weight }))),
  'least-connections': (b) => leastConnections(plain(b)),
  'power-of-two-choices': (b) => after.createBalancer(plain(b), { seed: 3 }),
  'consistent hashing': (b) => hashBalancer(plain(b), (ids) => after.createKeyRouter(ids)),
};

function plain(b: SimBackend[]): BackendSpec[] {
  return b.map(({ id }) => ({ id }));
}

interface Input {
  size: Size;
  backends: SimBackend[];
  requestKeys: string[];
  /** One balancer per strategy, built once (building a ring is not a per-request cost). */
  balancers: Map<string, Balancer>;
}

/**
 * `decisions` picks with a window of IN_FLIGHT outstanding requests, finished oldest first; the window is drained at
 * the end, so every call starts from an idle balancer.
 */
function decide(input: Input, name: string): number {
  const bal = input.balancers.get(name)!;
  const window: string[] = new Array(IN_FLIGHT);
  const n = input.size.decisions;
  let acc = 0;
  for (let i = 0; i < n; i++) {
    const slot = i % IN_FLIGHT;
    if (i >= IN_FLIGHT) bal.done(window[slot]);
    const id = bal.pick(input.requestKeys[i % input.requestKeys.length]);
    window[slot] = id;
    acc += id.length;
  }
  for (let i = Math.max(0, n - IN_FLIGHT); i < n; i++) bal.done(window[i % IN_FLIGHT]);
  return acc;
}

export default defineLesson<Size, Input>({
  id: 't1/08-load-balancing',
  title: 'Load balancing: round-robin vs power-of-two-choices, modulo vs consistent hashing',
  workload:
    `variants: cost of ${'10,000'} balancing decisions over ${REPLICAS} backends with ${IN_FLIGHT} requests in flight; ` +
    `extras: simulated p50/p99 (discrete-event, seeded) with one replica at 1/${SLOW_FACTOR} speed, and key remapping on join/leave`,
  sizes: {
    quick: { requests: 20_000, keys: 20_000, decisions: 10_000 },
    full: { requests: 200_000, keys: 200_000, decisions: 10_000 },
  },
  setup: (size) => {
    const backends = unevenBackends(REPLICAS, { slowFactor: SLOW_FACTOR });
    const balancers = new Map(Object.entries(STRATEGIES).map(([name, make]) => [name, make(backends)]));
    return { size, backends, balancers, requestKeys: Array.from({ length: 4_096 }, (_, i) => `query-${i}`) };
  },
  baseline: 'round-robin',
  headline: { name: 'time per call', unit: 'ms', better: 'lower' },
  variants: Object.fromEntries(Object.keys(STRATEGIES).map((name) => [name, (input: Input) => decide(input, name)])),
  extras: (input, ctx) => {
    const { size, backends } = input;
    const metrics: Metric[] = [];
    const points: CurvePoint[] = [];
    const slow = backends[backends.length - 1].id;

    // 1. Tail latency per strategy, same arrival stream, at every load.
    ctx.log(`simulating ${Object.keys(STRATEGIES).length} strategies × ${LOADS.length} loads × ${size.requests} requests`);
    for (const [name, make] of Object.entries(STRATEGIES)) {
      for (const load of LOADS) {
        const r = simulate(make(backends), { backends, load, requests: size.requests, keys: 10_000, seed: SEED });
        points.push({ series: name, x: load, y: r.p99 });
        if (load === HEADLINE_LOAD) {
          metrics.push(
            { name: `simulated p50 at ${HEADLINE_LOAD * 100}% load`, value: r.p50, unit: 'ms', variant: name },
            { name: `simulated p99 at ${HEADLINE_LOAD * 100}% load`, value: r.p99, unit: 'ms', variant: name },
            {
              name: 'share of requests sent to the half-speed replica',
              value: r.share[slow] * 100,
              unit: '%',
              variant: name,
              note: `its fair share by capacity: ${((100 * (1 / SLOW_FACTOR)) / (REPLICAS - 1 + 1 / SLOW_FACTOR)).toFixed(1)}%`,
            },
          );
        }
      }
    }

    // 2. Keys that move when a backend joins or leaves: modulo vs hash ring (160 virtual nodes).
    const nodes = Array.from({ length: 10 }, (_, i) => `node-${i}`);
    const keys = Array.from({ length: size.keys }, (_, i) => `chunk-${i}`);
    const moved = (make: (ids: string[]) => before.KeyRouter, change: (r: before.KeyRouter) => void) => {
      const a = make(nodes);
      const b = make(nodes);
      change(b);
      return movedFraction(keys, (k) => a.route(k), (k) => b.route(k));
    };
    for (const [name, make] of [
      ['modulo hashing', (ids: string[]) => before.createKeyRouter(ids)],
      ['consistent hashing', (ids: string[]) => after.createKeyRouter(ids)],
    ] as const) {
      metrics.push(
        { name: 'keys moved when an 11th backend joins', value: moved(make, (r) => r.add('node-10')) * 100, unit: '%', variant: name, note: 'ideal 1/11 = 9.1%' },
        { name: 'keys moved when 1 of 10 backends leaves', value: moved(make, (r) => r.remove('node-3')) * 100, unit: '%', variant: name, note: 'ideal 1/10 = 10%' },
      );
    }

    // 3. How even the ring is: busiest backend's keys / mean, against virtual nodes per backend.
    const spread: CurvePoint[] = [];
    for (const vnodes of [1, 4, 16, 64, 160, 640]) {
      const r = after.createKeyRouter(nodes, { vnodes });
      const c = new Map<string, number>();
      for (const k of keys) c.set(r.route(k), (c.get(r.route(k)) ?? 0) + 1);
      const imbalance = Math.max(...c.values()) / (keys.length / nodes.length);
      spread.push({ series: 'consistent hashing', x: vnodes, y: imbalance, label: `${vnodes}` });
      if (vnodes === 160) metrics.push({ name: 'busiest backend / mean keys (160 virtual nodes)', value: imbalance, unit: '×', variant: 'consistent hashing' });
    }

    // 4. Decision cost against the number of backends: round-robin O(1), least-connections O(N), P2C O(1).
    const cost: CurvePoint[] = [];
    for (const n of [8, 64, 512]) {
      const many = unevenBackends(n, { slowFactor: SLOW_FACTOR });
      for (const name of ['round-robin', 'least-connections', 'power-of-two-choices']) {
        const probe: Input = { ...input, backends: many, balancers: new Map([[name, STRATEGIES[name](many)]]) };
        for (let r = 0; r < 3; r++) decide(probe, name); // warm
        const ms: number[] = [];
        for (let r = 0; r < 15; r++) {
          const t0 = performance.now();
          decide(probe, name);
          ms.push(performance.now() - t0);
        }
        ms.sort((a, b) => a - b);
        cost.push({ series: name, x: n, y: (ms[ms.length >> 1] * 1e6) / size.decisions }); // median call
      }
    }

    return {
      metrics,
      curves: [
        {
          id: 'decision-cost-vs-backends',
          title: 'Cost of one balancing decision against the number of backends (wall clock)',
          xLabel: 'backends',
          yLabel: 'ns per pick + done',
          xLog: true,
          points: cost,
        },
        {
          id: 'p99-vs-load',
          title: `Simulated p99 latency against load (${REPLICAS} replicas, one at 1/${SLOW_FACTOR} speed)`,
          xLabel: 'offered load (fraction of total capacity)',
          yLabel: 'p99 latency, ms (virtual time)',
          points,
        },
        {
          id: 'ring-imbalance',
          title: 'Hash ring: busiest backend’s share of keys / mean, against virtual nodes per backend',
          xLabel: 'virtual nodes per backend',
          yLabel: 'max / mean keys',
          xLog: true,
          points: spread,
        },
      ],
    };
  },
});
