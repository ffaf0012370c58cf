/**
 * Wrong (on purpose): "spread the load" by sending each request to a random live backend (drawn in proportion to
 * the weights). Over many requests every replica gets its share by COUNT, like round-robin: the half-speed replica
 * still gets about 1/8 of the requests, more than it can serve at 70% load, and its queue grows for the whole run.
 * Randomness is half of power-of-two-choices; the comparison of how busy the two draws are is the other half.
 * (The key router is the correct hash ring.)
 *
 * What differs from after.ts: createBalancer (one weighted random draw, no comparison of two); createKeyRouter is
 * after.ts's.
 *
 * @rejected-with the half-speed replica got 12.8% of the requests
 */
import { mulberry32 } from '../../../shared/util/random.ts';
import { checkBackends, type Balancer, type BalancerOptions, type BackendSpec } from '../types.ts';

export { createKeyRouter, type Balancer, type BalancerOptions, type BackendSpec, type KeyRouter, type KeyRouterOptions } from '../after.ts';

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
