/**
 * Load balancing that looks at the backends:
 *
 * - requests: power-of-two-choices (P2C). Draw two different live backends at random (in proportion to their
 *   weights) and send the request to the one with fewer requests in flight per unit of weight. A slow replica
 *   accumulates in-flight requests, so it loses almost every comparison and gets only what it can serve: no
 *   configuration of speeds, O(1) per decision, and far less herding than "always the least loaded" when several
 *   balancers share stale counts. (strategies.ts has least-connections, which scans every backend.)
 * - keys: consistent hashing. Each backend owns `vnodes` points on a ring of 2^32 positions; a key belongs to the
 *   first point at or after its hash. When a backend joins it takes over only the arcs in front of its points
 *   (≈ 1/N of the keys); when it leaves only its own keys move. Virtual nodes smooth out the arc lengths.
 */
import { mulberry32 } from '../../shared/util/random.ts';
import { hash32 } from './hash.ts';
import { checkBackends, type Balancer, type BalancerOptions, type BackendSpec, type KeyRouter, type KeyRouterOptions } from './types.ts';

export type { Balancer, BalancerOptions, BackendSpec, KeyRouter, KeyRouterOptions } from './types.ts';

/** Power-of-two-choices over in-flight requests per unit of weight; seeded, so the same calls give the same picks. */
export function createBalancer(backends: BackendSpec[], opts: BalancerOptions = {}): Balancer {
  checkBackends(backends);
  const rand = mulberry32(opts.seed ?? 1);
  const ids = backends.map((b) => b.id);
  const index = new Map(ids.map((id, i) => [id, i]));
  const weight = Float64Array.from(backends, (b) => b.weight ?? 1);
  const inflight = new Float64Array(ids.length);
  const live = new Uint8Array(ids.length).fill(1);
  // cumulative weights of the live backends, for weighted sampling by binary search; rebuilt on setLive
  let liveIdx: number[] = [];
  let cum = new Float64Array(0);
  const uniform = weight.every((w) => w === weight[0]); // equal weights: sample with one multiply, no search
  const rebuild = () => {
    liveIdx = ids.map((_, i) => i).filter((i) => live[i] === 1);
    cum = new Float64Array(liveIdx.length);
    let s = 0;
    liveIdx.forEach((i, j) => (cum[j] = s += weight[i]));
  };
  rebuild();
  const sample = (): number => {
    if (uniform) return liveIdx[Math.floor(rand() * liveIdx.length)];
    const r = rand() * cum[cum.length - 1];
    let lo = 0;
    let hi = cum.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cum[mid] > r) hi = mid;
      else lo = mid + 1;
    }
    return liveIdx[lo];
  };
  const idOf = (id: string): number => {
    const i = index.get(id);
    if (i === undefined) throw new RangeError(`unknown backend "${id}"`);
    return i;
  };

  return {
    pick() {
      if (liveIdx.length === 0) throw new Error('no live backend');
      const a = sample();
      let chosen = a;
      if (liveIdx.length > 1) {
        let b = sample();
        for (let tries = 0; b === a && tries < 16; tries++) b = sample();
        // fewer in flight per unit of weight wins; a tie keeps the first draw (so an idle pool samples by weight)
        if (b !== a && inflight[b] / weight[b] < inflight[a] / weight[a]) chosen = b;
      }
      inflight[chosen]++;
      return ids[chosen];
    },
    done(id) {
      const i = idOf(id);
      if (inflight[i] > 0) inflight[i]--;
    },
    setLive(id, up) {
      live[idOf(id)] = up ? 1 : 0;
      rebuild();
    },
  };
}

/** Consistent hashing on a ring with `vnodes` points per backend. */
export function createKeyRouter(backends: string[], opts: KeyRouterOptions = {}): KeyRouter {
  const vnodes = opts.vnodes ?? 160;
  if (!Number.isInteger(vnodes) || vnodes < 1) throw new RangeError(`vnodes must be a positive integer, got ${vnodes}`);
  const members: string[] = [];
  let points = new Uint32Array(0); // sorted ring positions
  let owners: string[] = []; // owners[i] owns points[i]

  const build = () => {
    const all: Array<[number, string]> = [];
    for (const id of members) for (let v = 0; v < vnodes; v++) all.push([hash32(`${id}#${v}`), id]);
    // equal positions (rare): order by id, so the ring does not depend on the order backends joined in
    all.sort((x, y) => x[0] - y[0] || (x[1] < y[1] ? -1 : x[1] > y[1] ? 1 : 0));
    points = Uint32Array.from(all, (p) => p[0]);
    owners = all.map((p) => p[1]);
  };
  const add = (id: string) => {
    if (members.includes(id)) throw new RangeError(`backend "${id}" is already a member`);
    members.push(id);
  };
  for (const id of backends) add(id);
  build();

  return {
    route(key) {
      if (points.length === 0) throw new Error('no backends');
      const h = hash32(key);
      // first point at or after h; past the last point, wrap around to the first
      let lo = 0;
      let hi = points.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (points[mid] < h) lo = mid + 1;
        else hi = mid;
      }
      return owners[lo === points.length ? 0 : lo];
    },
    add(id) {
      add(id);
      build();
    },
    remove(id) {
      const i = members.indexOf(id);
      if (i < 0) throw new RangeError(`unknown backend "${id}"`);
      members.splice(i, 1);
      build();
    },
    get backends() {
      return members;
    },
  };
}
