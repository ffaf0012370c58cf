/**
 * A deterministic discrete-event simulation of a balancer in front of backends of uneven speed (nothing runs on the
 * network; virtual time in milliseconds). Same scenario and seed, same numbers on every machine.
 *
 * - Arrivals: a Poisson stream at `load` × the total capacity of the backends (capacity of one backend =
 *   slots / mean service time), each request with a key drawn uniformly from `keys` distinct keys.
 * - Backends: `slots` requests in service at once, a FIFO queue behind them; service times lognormal (σ = 0.5)
 *   around the backend's mean. One replica is slower than the rest: the "noisy neighbour".
 * - The balancer picks a backend at arrival and hears `done` at completion, so load-aware strategies see the
 *   queue building up on the slow replica. Latency = queueing + service. The first 10% of requests (warm-up) are
 *   not counted.
 *
 * The arrival stream and each request's service-time draw come from two seeded streams of their own, so every
 * strategy faces the same requests; only where they go differs.
 */
import { gaussian, mulberry32 } from '../../shared/util/random.ts';
import { percentile } from '../../shared/util/stats.ts';
import type { Balancer, BackendSpec } from './types.ts';

export interface SimBackend extends BackendSpec {
  /** Mean service time, ms. */
  meanMs: number;
  /** Requests served at once. */
  slots: number;
}

export interface Scenario {
  backends: SimBackend[];
  /** Offered load as a fraction of total capacity, in (0, 1). */
  load: number;
  requests: number;
  keys: number;
  seed: number;
}

export interface SimResult {
  p50: number;
  p99: number;
  mean: number;
  max: number;
  /** Share of the counted requests each backend served. */
  share: Record<string, number>;
}

const SIGMA = 0.5;

/** n backends with `slots` each; the last one `slowFactor` times slower. Weights ∝ capacity (for weighted RR). */
export function unevenBackends(n: number, opts: { fastMs?: number; slowFactor?: number; slots?: number } = {}): SimBackend[] {
  const fastMs = opts.fastMs ?? 10;
  const slow = opts.slowFactor ?? 4;
  const slots = opts.slots ?? 4;
  return Array.from({ length: n }, (_, i) => {
    const isSlow = i === n - 1;
    return { id: `replica-${i}`, meanMs: isSlow ? fastMs * slow : fastMs, slots, weight: isSlow ? 1 : slow };
  });
}

/** Total capacity in requests per ms. */
export function capacity(backends: SimBackend[]): number {
  return backends.reduce((s, b) => s + b.slots / b.meanMs, 0);
}

/** Min-heap of completion events keyed by time. */
class EventHeap {
  private t: number[] = [];
  private v: number[] = [];
  get size(): number {
    return this.t.length;
  }
  peekTime(): number {
    return this.t[0];
  }
  push(time: number, value: number): void {
    const { t, v } = this;
    let i = t.length;
    t.push(time);
    v.push(value);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (t[p] <= time) break;
      t[i] = t[p];
      v[i] = v[p];
      i = p;
    }
    t[i] = time;
    v[i] = value;
  }
  pop(): number {
    const { t, v } = this;
    const top = v[0];
    const lt = t.pop()!;
    const lv = v.pop()!;
    const n = t.length;
    if (n > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const c = l + 1 < n && t[l + 1] < t[l] ? l + 1 : l;
        if (t[c] >= lt) break;
        t[i] = t[c];
        v[i] = v[c];
        i = c;
      }
      t[i] = lt;
      v[i] = lv;
    }
    return top;
  }
}

export function simulate(balancer: Balancer, sc: Scenario): SimResult {
  const { backends, requests } = sc;
  if (!(sc.load > 0 && sc.load < 1.5)) throw new RangeError(`load must be in (0, 1.5), got ${sc.load}`);
  const lambda = sc.load * capacity(backends); // requests per ms
  const arrivals = mulberry32(sc.seed);
  const service = gaussian(mulberry32(sc.seed ^ 0x9e3779b9));
  const keyRand = mulberry32(sc.seed ^ 0x85ebca6b);
  const index = new Map(backends.map((b, i) => [b.id, i]));

  const arrivalAt = new Float64Array(requests);
  const serviceZ = new Float64Array(requests); // the request's own draw, scaled by whichever backend serves it
  const keys: string[] = new Array(requests);
  const keyNames: string[] = new Array(sc.keys); // built on first use: one string per distinct key, not per request
  let t = 0;
  for (let r = 0; r < requests; r++) {
    t += -Math.log(1 - arrivals()) / lambda;
    arrivalAt[r] = t;
    serviceZ[r] = Math.exp(SIGMA * service() - (SIGMA * SIGMA) / 2);
    const k = Math.floor(keyRand() * sc.keys);
    keys[r] = keyNames[k] ??= `key-${k}`;
  }

  const busy = new Int32Array(backends.length);
  const queues: number[][] = backends.map(() => []);
  const heads = new Int32Array(backends.length);
  const servedBy = new Int32Array(requests);
  const latency = new Float64Array(requests);
  const heap = new EventHeap();
  const start = (r: number, b: number, now: number) => {
    busy[b]++;
    heap.push(now + backends[b].meanMs * serviceZ[r], r);
  };

  let next = 0;
  while (next < requests || heap.size > 0) {
    if (next < requests && (heap.size === 0 || arrivalAt[next] <= heap.peekTime())) {
      const r = next++;
      const b = index.get(balancer.pick(keys[r]))!;
      servedBy[r] = b;
      if (busy[b] < backends[b].slots) start(r, b, arrivalAt[r]);
      else queues[b].push(r);
    } else {
      const now = heap.peekTime();
      const r = heap.pop();
      const b = servedBy[r];
      latency[r] = now - arrivalAt[r];
      busy[b]--;
      balancer.done(backends[b].id);
      if (heads[b] < queues[b].length) start(queues[b][heads[b]++], b, now);
    }
  }

  const from = Math.floor(requests * 0.1);
  const counted = latency.slice(from).sort();
  const share: Record<string, number> = Object.fromEntries(backends.map((b) => [b.id, 0]));
  for (let r = from; r < requests; r++) share[backends[servedBy[r]].id] += 1 / (requests - from);
  let sum = 0;
  for (const x of counted) sum += x;
  return {
    p50: percentile(counted, 50),
    p99: percentile(counted, 99),
    mean: sum / counted.length,
    max: counted[counted.length - 1],
    share,
  };
}

/** Fraction of `keys` whose owner differs between two routings. */
export function movedFraction(keys: readonly string[], routeA: (k: string) => string, routeB: (k: string) => string): number {
  let moved = 0;
  for (const k of keys) if (routeA(k) !== routeB(k)) moved++;
  return moved / keys.length;
}
