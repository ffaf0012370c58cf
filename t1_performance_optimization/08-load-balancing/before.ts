/**
 * Load balancing the way it usually starts:
 *
 * - requests: round-robin over the backends (a backend with weight w appears w times in the rotation). It needs no
 *   state about the backends and spreads requests evenly by COUNT; but a replica that is slower (a noisy
 *   neighbour, a long GC, a smaller machine) gets the same share as the others, its queue grows, and its requests
 *   become the p99 of the whole service.
 * - keys (which backend owns a cache entry, a shard, a session): `hash(key) % N`. Even, and stateless; but when N
 *   changes almost every key maps somewhere else ((N−1)/N of them on average): every cache goes cold at once.
 */
import { hash32 } from './hash.ts';
import { checkBackends, type Balancer, type BalancerOptions, type BackendSpec, type KeyRouter, type KeyRouterOptions } from './types.ts';

export type { Balancer, BalancerOptions, BackendSpec, KeyRouter, KeyRouterOptions } from './types.ts';

/** Round-robin; weight w = w slots in the rotation. Down backends are skipped. */
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
