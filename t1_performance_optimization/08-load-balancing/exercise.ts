/**
 * EXERCISE 08-load-balancing — a balancer that looks at the backends, and a key router that survives a resize.
 *
 * As shipped it is before.ts: round-robin for requests and `hash % N` for keys. Both are correct, even and
 * stateless; measure them first, then replace both decisions.
 *
 * What must hold (checked by `npm run checkpoint -- 08-load-balancing`):
 *
 *   createBalancer(backends, { seed }) → { pick(key?), done(id), setLive(id, up) }
 *     - picks only live backends, and a backend that comes back up gets requests again;
 *     - throws an Error mentioning "no live backend" when all are down, a RangeError for an unknown id;
 *     - on an idle stream (each request done before the next), follows the weights: shares within 2 points of w / Σw;
 *     - the same seed and the same calls give the same picks (any random draw comes from `seed`, not Math.random);
 *     - rejects an empty list, duplicate ids and weights that are not positive integers (`checkBackends`);
 *     - `done(id)` is called once for every request `pick` returned, when that request finishes.
 *   createKeyRouter(backends, { vnodes = 160 }) → { route(key), add(id), remove(id), backends }
 *     - every key goes to a member; after remove(id) it routes every key as a router built without `id` would;
 *     - adding a member twice or removing a stranger throws a RangeError.
 *
 * The target, and what the checkpoint rejects, in the lesson's terms:
 *
 *   - In the simulation (simulate.ts: 8 replicas, one at half speed, 70% load, seeded), the p99 must stay under
 *     100 ms. A balancer that ignores how busy each replica is gives the half-speed one more than it can serve and
 *     its queue grows for as long as the run lasts: a p99 of seconds.
 *   - When an 11th backend joins, at most 1/11 + 4 points of the keys may move, each to the newcomer; when one of 10
 *     leaves, only its own keys move. Modulo placement moves about 9 keys in 10.
 *   - The busiest of 10 backends may own at most 1.35× the mean number of keys.
 *
 * Measure yours beside the others (the headline is the simulated p99): npm run t1 -- --only 08-load-balancing --impl exercise --quick
 * Stuck? npm run hint -- 08-load-balancing
 */
import { hash32 } from './hash.ts';
import { checkBackends, type Balancer, type BalancerOptions, type BackendSpec, type KeyRouter, type KeyRouterOptions } from './types.ts';

export type { Balancer, BalancerOptions, BackendSpec, KeyRouter, KeyRouterOptions } from './types.ts';

export function createBalancer(backends: BackendSpec[], _opts: BalancerOptions = {}): Balancer {
  checkBackends(backends);
  const rotation = backends.flatMap((b) => Array<string>(b.weight ?? 1).fill(b.id));
  const live = new Map(backends.map((b) => [b.id, true]));
  let next = 0;
  return {
    pick() {
      for (let tries = 0; tries < rotation.length; tries++) {
        const id = rotation[next];
        next = (next + 1) % rotation.length;
        if (live.get(id)) return id;
      }
      throw new Error('no live backend');
    },
    done() {},
    setLive(id, up) {
      if (!live.has(id)) throw new RangeError(`unknown backend "${id}"`);
      live.set(id, up);
    },
  };
}

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
