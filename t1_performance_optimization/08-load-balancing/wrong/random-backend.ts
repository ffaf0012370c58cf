/**
 * Wrong (on purpose): "spread the load" by sending each request to a random live backend (drawn in proportion to
 * the weights). Over many requests every replica gets its share by COUNT, like round-robin: the half-speed replica
 * still gets about 1/8 of the requests, more than it can serve at 70% load, and its queue grows for the whole run.
 * Randomness is half of power-of-two-choices; the comparison of how busy the two draws are is the other half.
 * (The key router is the correct hash ring.)
 *
 * @rejected-with the half-speed replica got 12.8% of the requests
 */
import { mulberry32 } from '../../../shared/util/random.ts';
import { hash32 } from '../hash.ts';
import { checkBackends, type Balancer, type BalancerOptions, type BackendSpec, type KeyRouter, type KeyRouterOptions } from '../types.ts';

export type { Balancer, BalancerOptions, BackendSpec, KeyRouter, KeyRouterOptions } from '../types.ts';

/** A random live backend, weighted; seeded, so the same calls give the same picks. */
export function createBalancer(backends: BackendSpec[], opts: BalancerOptions = {}): Balancer {
  checkBackends(backends);
  const rand = mulberry32(opts.seed ?? 1);
  const ids = backends.map((b) => b.id);
  const index = new Map(ids.map((id, i) => [id, i]));
  const weight = backends.map((b) => b.weight ?? 1);
  const live = new Uint8Array(ids.length).fill(1);
  const idOf = (id: string): number => {
    const i = index.get(id);
    if (i === undefined) throw new RangeError(`unknown backend "${id}"`);
    return i;
  };
  return {
    pick() {
      let total = 0;
      for (let i = 0; i < ids.length; i++) if (live[i]) total += weight[i];
      if (total === 0) throw new Error('no live backend');
      let r = rand() * total;
      for (let i = 0; i < ids.length; i++) {
        if (!live[i]) continue;
        r -= weight[i];
        if (r < 0) return ids[i];
      }
      for (let i = ids.length - 1; i >= 0; i--) if (live[i]) return ids[i];
      throw new Error('no live backend');
    },
    done(id) {
      idOf(id);
    },
    setLive(id, up) {
      live[idOf(id)] = up ? 1 : 0;
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
