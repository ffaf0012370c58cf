/**
 * Wrong (on purpose): a hash ring, but each backend owns ONE point on it (the `vnodes` option is ignored). Joins
 * and leaves move only the keys they should, but the arcs between random points are wildly uneven: one backend
 * owns several times the mean number of keys (and takes several times its share of the load), another almost none.
 * Virtual nodes are what even the arcs out. (The balancer is power-of-two-choices.)
 *
 * @rejected-with the busiest of 10 backends owns 2.08× the mean number of keys
 */
import { mulberry32 } from '../../../shared/util/random.ts';
import { hash32 } from '../hash.ts';
import { checkBackends, type Balancer, type BalancerOptions, type BackendSpec, type KeyRouter, type KeyRouterOptions } from '../types.ts';

export type { Balancer, BalancerOptions, BackendSpec, KeyRouter, KeyRouterOptions } from '../types.ts';

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

/** Consistent hashing with one point per backend. */
export function createKeyRouter(backends: string[], _opts: KeyRouterOptions = {}): KeyRouter {
  const members: string[] = [];
  let points = new Uint32Array(0);
  let owners: string[] = [];
  const build = () => {
    const all = members.map((id) => [hash32(id), id] as [number, string]);
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
