/**
 * EXERCISE 08-load-balancing — a load-aware balancer and a hash ring. Check with: npm run checkpoint -- 08-load-balancing
 *
 * The bookkeeping is done for you: weighted sampling of live backends (`sample()`), in-flight counts, the live set,
 * and the sorted ring of virtual-node points (`points`, `owners`). Two decisions are missing (search for TODO):
 *
 * 1. `pick` (power-of-two-choices): draw a = sample(); if more than one backend is live, draw b ≠ a (re-draw a few
 *    times); keep whichever has fewer requests in flight per unit of weight (inflight[i] / weight[i]); on a tie keep
 *    a. Count the request in inflight[chosen] and return ids[chosen].
 * 2. `route` (consistent hashing): h = hash32(key); binary-search the first point ≥ h; past the end, wrap to
 *    point 0; return its owner.
 *
 * The solution is in after.ts; try first.
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
      // TODO(1): power-of-two-choices over inflight[i] / weight[i] (see the header), then inflight[chosen]++.
      void sample;
      throw new Error('TODO(08-load-balancing, step 1): implement power-of-two-choices in pick (exercise.ts)');
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
      // TODO(2): binary-search the first point >= hash32(key) in `points` (wrap to 0 past the end); return its owner.
      void [hash32, key, owners];
      throw new Error('TODO(08-load-balancing, step 2): find the owner of the key on the ring in route (exercise.ts)');
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
