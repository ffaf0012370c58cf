/**
 * The other strategies the benchmark compares, with the same `Balancer` interface:
 *
 * - `leastConnections`: the live backend with the fewest in-flight requests per unit of weight (ties: rotate). The
 *   best information, at O(N) per decision; with several balancers in front of the same backends they all see the
 *   same "least loaded" one and herd onto it (P2C's randomness avoids that; this single-balancer simulation does not
 *   show herding).
 * - `hashBalancer`: route each request by its key through a KeyRouter (consistent hashing in after.ts, modulo in
 *   before.ts): cache affinity (the same key always reaches the same backend), but blind to load.
 */
import { checkBackends, type Balancer, type BackendSpec, type KeyRouter } from './types.ts';

export function leastConnections(backends: BackendSpec[]): Balancer {
  checkBackends(backends);
  const ids = backends.map((b) => b.id);
  const index = new Map(ids.map((id, i) => [id, i]));
  const weight = Float64Array.from(backends, (b) => b.weight ?? 1);
  const inflight = new Float64Array(ids.length);
  const live = new Uint8Array(ids.length).fill(1);
  let start = 0;
  const idOf = (id: string): number => {
    const i = index.get(id);
    if (i === undefined) throw new RangeError(`unknown backend "${id}"`);
    return i;
  };
  return {
    pick() {
      let best = -1;
      let bestScore = Infinity;
      for (let k = 0; k < ids.length; k++) {
        const i = (start + k) % ids.length;
        if (live[i] === 0) continue;
        const score = inflight[i] / weight[i];
        if (score < bestScore) {
          best = i;
          bestScore = score;
        }
      }
      if (best < 0) throw new Error('no live backend');
      start = (start + 1) % ids.length;
      inflight[best]++;
      return ids[best];
    },
    done(id) {
      const i = idOf(id);
      if (inflight[i] > 0) inflight[i]--;
    },
    setLive(id, up) {
      live[idOf(id)] = up ? 1 : 0;
    },
  };
}

/** Requests go where their key is owned; a down backend leaves the router (its keys move), and rejoins when up. */
export function hashBalancer(backends: BackendSpec[], makeRouter: (ids: string[]) => KeyRouter): Balancer {
  checkBackends(backends);
  const ids = backends.map((b) => b.id);
  const router = makeRouter(ids);
  const up = new Set(ids);
  return {
    pick(key) {
      if (key === undefined) throw new Error('hashBalancer.pick needs the request key');
      if (up.size === 0) throw new Error('no live backend');
      return router.route(key);
    },
    done() {},
    setLive(id, live) {
      if (!ids.includes(id)) throw new RangeError(`unknown backend "${id}"`);
      if (live && !up.has(id)) {
        up.add(id);
        router.add(id);
      } else if (!live && up.has(id)) {
        up.delete(id);
        if (up.size > 0) router.remove(id);
      }
    },
  };
}
