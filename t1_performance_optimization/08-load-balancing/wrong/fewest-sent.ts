/**
 * Wrong (on purpose): "send it to the least loaded backend", with load counted as the requests SENT to each backend
 * so far (per unit of weight), a count that only grows. A slow replica is not charged for holding on to its
 * requests, so the counts stay level and the picks rotate exactly like round-robin: the half-speed replica gets 1/8
 * of the requests, more than it can serve at 70% load. How busy a backend is right now is the requests it has not
 * finished yet. (The key router is the correct hash ring.)
 *
 * @rejected-with the half-speed replica got 12.5% of the requests
 */
import { hash32 } from '../hash.ts';
import { checkBackends, type Balancer, type BalancerOptions, type BackendSpec, type KeyRouter, type KeyRouterOptions } from '../types.ts';

export type { Balancer, BalancerOptions, BackendSpec, KeyRouter, KeyRouterOptions } from '../types.ts';

/** The live backend that was sent the fewest requests per unit of weight (ties: the first). */
export function createBalancer(backends: BackendSpec[], _opts: BalancerOptions = {}): Balancer {
  checkBackends(backends);
  const ids = backends.map((b) => b.id);
  const index = new Map(ids.map((id, i) => [id, i]));
  const weight = Float64Array.from(backends, (b) => b.weight ?? 1);
  const sent = new Float64Array(ids.length);
  const live = new Uint8Array(ids.length).fill(1);
  const idOf = (id: string): number => {
    const i = index.get(id);
    if (i === undefined) throw new RangeError(`unknown backend "${id}"`);
    return i;
  };
  return {
    pick() {
      let best = -1;
      for (let i = 0; i < ids.length; i++) {
        if (live[i] && (best < 0 || sent[i] / weight[i] < sent[best] / weight[best])) best = i;
      }
      if (best < 0) throw new Error('no live backend');
      sent[best]++;
      return ids[best];
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
