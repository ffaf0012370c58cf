/**
 * Wrong (on purpose): "send it to the least loaded backend", with load counted as the requests SENT to each backend
 * so far (per unit of weight), a count that only grows. A slow replica is not charged for holding on to its
 * requests, so the counts stay level and the picks rotate exactly like round-robin: the half-speed replica gets 1/8
 * of the requests, more than it can serve at 70% load. How busy a backend is right now is the requests it has not
 * finished yet. (The key router is the correct hash ring.)
 *
 * What differs from after.ts: createBalancer (fewest sent instead of power-of-two-choices over requests in flight);
 * createKeyRouter is after.ts's.
 *
 * @rejected-with the half-speed replica got 12.5% of the requests
 */
import { checkBackends, type Balancer, type BalancerOptions, type BackendSpec } from '../types.ts';

export { createKeyRouter, type Balancer, type BalancerOptions, type BackendSpec, type KeyRouter, type KeyRouterOptions } from '../after.ts';

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
