/**
 * Benchmark for 08-load-balancing. The headline is what users of the service see: the simulated p99 latency at 70%
 * load with one replica at half speed, per strategy (simulate.ts, a deterministic discrete-event simulation in
 * virtual time), run once per seed so the figure has a spread (samples = one p99 per seed). Also from the
 * simulation: p50, the share of requests the slow replica got, and p99 against load; and the share of keys that move
 * when a backend joins or leaves (modulo placement against a hash ring).
 *
 * The tinybench table times something else on purpose: the DECISION (10,000 pick + done calls over 8 backends with
 * 32 requests in flight), what a smarter balancer costs per request in wall-clock time.
 *
 * Run: npm run t1 -- --only 08-load-balancing [--quick] [--impl exercise]
 */
import { performance } from 'node:perf_hooks';
import { defineLesson, EXERCISE, type CurvePoint, type Metric } from '../../shared/lab/lesson.ts';
import { measured } from '../../shared/lab/metric.ts';
import * as after from './after.ts';
import * as before from './before.ts';
import { movedFraction, simulate, unevenBackends, type SimBackend } from './simulate.ts';
import { hashBalancer, leastConnections } from './strategies.ts';
import type { Balancer, BackendSpec, KeyRouter } from './types.ts';

interface Size {
  /** Simulated requests per (strategy, load, seed) run. */
  requests: number;
  /** Seeds the headline point (70% load) is simulated with: one p99 per seed. */
  seeds: number;
  /** Keys placed in the remapping experiment. */
  keys: number;
  /** Decisions per variant call. */
  decisions: number;
  /** Timed calls per point of the decision-cost curve (median taken). */
  costReps: number;
  /** Offered loads of the p99-against-load curve (fractions of total capacity; 0.7 is the headline's). */
  loads: number[];
}

const REPLICAS = 8;
const SLOW_FACTOR = 2;
const HEADLINE_LOAD = 0.7;
const IN_FLIGHT = 32;
const SIM_KEYS = 10_000;
/** The p99-against-load curve uses the first headline seed. */
const FIRST_SEED = 1;

type Make = (b: SimBackend[], seed: number) => Balancer;

function plain(b: SimBackend[]): BackendSpec[] {
  return b.map(({ id }) => ({ id }));
}

/** The strategies, each a fresh balancer over the simulated backends. Weighted RR is given the true capacities. */
const STRATEGIES: Record<string, Make> = {
  'round-robin': (b) => before.createBalancer(plain(b)),
  'weighted round-robin': (b) => before.createBalancer(b.map(({ id, weight }) => ({ id, weight }))),
  'least-connections': (b) => leastConnections(plain(b)),
  'power-of-two-choices': (b, seed) => after.createBalancer(plain(b), { seed }),
  'consistent hashing': (b) => hashBalancer(plain(b), (ids) => after.createKeyRouter(ids)),
};

interface Input {
  size: Size;
  backends: SimBackend[];
  requestKeys: string[];
  /** One balancer per strategy, built once (building a ring is not a per-request cost). */
  balancers: Map<string, Balancer>;
  /** With --impl exercise: the learner's module. */
  exercise?: typeof after;
}

/** Every strategy that runs, the learner's last. */
function strategiesOf(input: Input): Array<[string, Make]> {
  const ex = input.exercise;
  return [...Object.entries(STRATEGIES), ...(ex ? [[EXERCISE, (b: SimBackend[], seed: number) => ex.createBalancer(plain(b), { seed })] as [string, Make]] : [])];
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

const P99 = `simulated p99 at ${HEADLINE_LOAD * 100}% load`;

export default defineLesson<Size, Input>({
  id: 't1/08-load-balancing',
  title: 'Load balancing: round-robin vs power-of-two-choices, modulo vs consistent hashing',
  workload:
    `headline: simulated p99 (discrete-event, seeded, one p99 per seed) at ${HEADLINE_LOAD * 100}% load over ${REPLICAS} replicas, one at 1/${SLOW_FACTOR} speed; ` +
    `table: wall-clock cost of 10,000 balancing decisions with ${IN_FLIGHT} requests in flight; extras: p99 against load, keys moved on join/leave`,
  sizes: {
    quick: { requests: 20_000, seeds: 5, keys: 20_000, decisions: 10_000, costReps: 7, loads: [0.4, 0.5, 0.6, 0.7, 0.8, 0.9] },
    full: { requests: 200_000, seeds: 10, keys: 200_000, decisions: 10_000, costReps: 15, loads: [0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9] },
  },
  setup: (size, ctx) => {
    const backends = unevenBackends(REPLICAS, { slowFactor: SLOW_FACTOR });
    const ex = ctx.exercise as typeof after | undefined;
    const input: Input = { size, backends, balancers: new Map(), requestKeys: Array.from({ length: 4_096 }, (_, i) => `query-${i}`), ...(ex ? { exercise: ex } : {}) };
    for (const [name, make] of strategiesOf(input)) input.balancers.set(name, make(backends, FIRST_SEED));
    return input;
  },
  baseline: 'round-robin',
  headline: { name: `simulated p99 at ${HEADLINE_LOAD * 100}% load, one replica at half speed`, unit: 'ms', better: 'lower', metric: P99 },
  featured: ['power-of-two-choices'],
  variants: Object.fromEntries(Object.keys(STRATEGIES).map((name) => [name, (input: Input) => decide(input, name)])),
  exercise: (input) => decide(input, EXERCISE),
  extras: (input, ctx) => {
    const { size, backends } = input;
    const metrics: Metric[] = [];
    const points: CurvePoint[] = [];
    const slow = backends[backends.length - 1].id;
    const capacityShare = (100 * (1 / SLOW_FACTOR)) / (REPLICAS - 1 + 1 / SLOW_FACTOR);
    const seeds = Array.from({ length: size.seeds }, (_, i) => FIRST_SEED + i);
    const strategies = strategiesOf(input);

    // 1. The headline: p99 at 70% load, one run per seed (arrivals, service times and the balancer's own draws).
    ctx.log(`simulating ${strategies.length} strategies × ${seeds.length} seeds at ${HEADLINE_LOAD * 100}% load, then × ${size.loads.length} loads, ${size.requests} requests each`);
    for (const [name, make] of strategies) {
      const runs = seeds.map((seed) => simulate(make(backends, seed), { backends, load: HEADLINE_LOAD, requests: size.requests, keys: SIM_KEYS, seed }));
      const note = `one p99 per seed, ${seeds.length} seeds × ${size.requests} requests`;
      metrics.push(
        measured(P99, 'ms', runs.map((r) => r.p99), { variant: name, note }),
        measured(`simulated p50 at ${HEADLINE_LOAD * 100}% load`, 'ms', runs.map((r) => r.p50), { variant: name }),
        {
          name: 'share of requests sent to the half-speed replica',
          value: runs.reduce((s, r) => s + r.share[slow] * 100, 0) / runs.length,
          unit: '%',
          variant: name,
          note: `mean over the seeds; it can serve ${capacityShare.toFixed(1)}% (its share of the capacity)`,
        },
      );
      // 2. p99 against load (first seed; the headline point is the run above).
      for (const load of size.loads) {
        const r = load === HEADLINE_LOAD ? runs[0] : simulate(make(backends, FIRST_SEED), { backends, load, requests: size.requests, keys: SIM_KEYS, seed: FIRST_SEED });
        points.push({ series: name, x: load, y: r.p99 });
      }
    }

    // 3. Keys that move when a backend joins or leaves: modulo vs hash ring (160 virtual nodes), and the learner's.
    const nodes = Array.from({ length: 10 }, (_, i) => `node-${i}`);
    const keys = Array.from({ length: size.keys }, (_, i) => `chunk-${i}`);
    const moved = (make: (ids: string[]) => KeyRouter, change: (r: KeyRouter) => void) => {
      const a = make(nodes);
      const b = make(nodes);
      change(b);
      return movedFraction(keys, (k) => a.route(k), (k) => b.route(k));
    };
    const routers: Array<[string, (ids: string[]) => KeyRouter]> = [
      ['modulo hashing', (ids) => before.createKeyRouter(ids)],
      ['consistent hashing', (ids) => after.createKeyRouter(ids)],
    ];
    if (input.exercise) routers.push([EXERCISE, (ids) => input.exercise!.createKeyRouter(ids)]);
    const busiest = (r: KeyRouter) => {
      const c = new Map<string, number>();
      for (const k of keys) {
        const o = r.route(k);
        c.set(o, (c.get(o) ?? 0) + 1);
      }
      return Math.max(...c.values()) / (keys.length / nodes.length);
    };
    for (const [name, make] of routers) {
      metrics.push(
        { name: 'keys moved when an 11th backend joins', value: moved(make, (r) => r.add('node-10')) * 100, unit: '%', variant: name, note: 'ideal 1/11 = 9.1%' },
        { name: 'keys moved when 1 of 10 backends leaves', value: moved(make, (r) => r.remove('node-3')) * 100, unit: '%', variant: name, note: 'ideal 1/10 = 10%' },
      );
      if (name !== 'modulo hashing') {
        metrics.push({ name: 'busiest backend / mean keys (default virtual nodes)', value: busiest(make(nodes)), unit: '×', variant: name, note: '1.00 is perfectly even' });
      }
    }

    // 4. How even the ring is: busiest backend's keys / mean, against virtual nodes per backend.
    const spread: CurvePoint[] = [];
    for (const vnodes of [1, 4, 16, 64, 160, 640]) {
      spread.push({ series: 'consistent hashing', x: vnodes, y: busiest(after.createKeyRouter(nodes, { vnodes })), label: `${vnodes}` });
    }

    // 5. Decision cost against the number of backends: round-robin O(1), least-connections O(N), P2C O(1).
    const cost: CurvePoint[] = [];
    for (const n of [8, 64, 512]) {
      const many = unevenBackends(n, { slowFactor: SLOW_FACTOR });
      for (const name of ['round-robin', 'least-connections', 'power-of-two-choices']) {
        const probe: Input = { ...input, backends: many, balancers: new Map([[name, STRATEGIES[name](many, FIRST_SEED)]]) };
        for (let r = 0; r < 3; r++) decide(probe, name); // warm
        const ms: number[] = [];
        for (let r = 0; r < size.costReps; r++) {
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
          id: 'p99-vs-load',
          title: `Simulated p99 latency against load (${REPLICAS} replicas, one at 1/${SLOW_FACTOR} speed)`,
          xLabel: 'offered load (fraction of total capacity)',
          yLabel: 'p99 latency, ms (virtual time)',
          points,
        },
        {
          id: 'decision-cost-vs-backends',
          title: 'Cost of one balancing decision against the number of backends (wall clock)',
          xLabel: 'backends',
          yLabel: 'ns per pick + done',
          xLog: true,
          points: cost,
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
