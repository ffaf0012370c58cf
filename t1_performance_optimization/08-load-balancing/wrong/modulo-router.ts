/**
 * Wrong (on purpose): the balancer is power-of-two-choices, but keys are still placed with `hash(key) % N`. It is
 * even and stateless, and when N changes almost every key maps somewhere else: an 11th cache node makes 10 keys in
 * 11 miss at once, right when the cluster was scaled up to absorb load.
 *
 * @rejected-with an 11th backend joining moved 90.8% of the keys
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

/** hash(key) mod N over the backends in the order they joined. */
export function createKeyRouter(backends: string[], _opts: KeyRouterOptions = {}): KeyRouter {
  const list = [...backends];
  return {
    route(key) {
      if (list.length === 0) throw new Error('no backends');
      return list[hash32(key) % list.length];
    },
    add(id) {
      if (list.includes(id)) throw new RangeError(`backend "${id}" is already a member`);
      list.push(id);
    },
    remove(id) {
      const i = list.indexOf(id);
      if (i < 0) throw new RangeError(`unknown backend "${id}"`);
      list.splice(i, 1);
    },
    get backends() {
      return list;
    },
  };
}
