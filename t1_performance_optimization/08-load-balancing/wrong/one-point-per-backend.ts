/**
 * Wrong (on purpose): a hash ring, but each backend owns ONE point on it (the `vnodes` option is ignored). Joins
 * and leaves move only the keys they should, but the arcs between random points are wildly uneven: one backend
 * owns several times the mean number of keys (and takes several times its share of the load), another almost none.
 * Virtual nodes are what even the arcs out. (The balancer is power-of-two-choices.)
 *
 * What differs from after.ts: createKeyRouter (one point per backend, `vnodes` ignored); createBalancer is after.ts's.
 *
 * @rejected-with the busiest of 10 backends owns 2.08× the mean number of keys
 */
import { hash32 } from '../hash.ts';
import type { KeyRouter, KeyRouterOptions } from '../types.ts';

export { createBalancer, type Balancer, type BalancerOptions, type BackendSpec, type KeyRouter, type KeyRouterOptions } from '../after.ts';

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
