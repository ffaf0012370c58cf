/**
 * Checkpoint for 08-load-balancing. `npm run checkpoint -- 08-load-balancing` runs it against exercise.ts;
 * plain `npx vitest run` checks before.ts (round-robin, modulo) and after.ts (power-of-two-choices, hash ring).
 *
 * Every balancer picks only live backends, follows its weights on an idle stream, is deterministic for a seed and
 * rejects a bad configuration; every key router sends each key to a member. Then what the lesson is about, for
 * everything but before.ts: in the seeded simulation (simulate.ts, virtual time) one half-speed replica must not
 * drive the p99 into seconds, and the key router must move only the keys it has to when a backend joins or leaves,
 * and spread keys evenly. Nothing here measures wall-clock time: the simulation is deterministic, keys are counted.
 */
import { describe, expect, it } from 'vitest';
import { implementations } from '../../shared/lab/checkpoint.ts';
import * as modulo from './before.ts';
import type { BackendSpec, Balancer, BalancerOptions, KeyRouter, KeyRouterOptions } from './after.ts';
import { movedFraction, simulate, unevenBackends } from './simulate.ts';

interface Mod {
  createBalancer(backends: BackendSpec[], opts?: BalancerOptions): Balancer;
  createKeyRouter(backends: string[], opts?: KeyRouterOptions): KeyRouter;
}

const FOUR: BackendSpec[] = [{ id: 'a' }, { id: 'b' }, { id: 'c' }, { id: 'd' }];
const KEYS = Array.from({ length: 20_000 }, (_, i) => `chunk-${i}`);
const TEN = Array.from({ length: 10 }, (_, i) => `node-${i}`);

/** `n` picks, each request finished before the next one starts (an idle pool). */
function idlePicks(b: Balancer, n: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const id = b.pick(`k${i}`);
    out.push(id);
    b.done(id);
  }
  return out;
}

/** `n` picks with up to `window` requests in flight (finished oldest first), so in-flight counts vary. */
function busyPicks(b: Balancer, n: number, window = 6): string[] {
  const out: string[] = [];
  const inFlight: string[] = [];
  for (let i = 0; i < n; i++) {
    const id = b.pick(`k${i}`);
    out.push(id);
    inFlight.push(id);
    if (inFlight.length > window) b.done(inFlight.shift()!);
  }
  return out;
}

const counts = (ids: string[]) => ids.reduce<Record<string, number>>((m, id) => ((m[id] = (m[id] ?? 0) + 1), m), {});
const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

describe.each(await implementations<Mod>(import.meta.url))('%s', (name, impl) => {
  describe('balancer', () => {
    it('picks only live backends, and a backend that comes back gets requests again', () => {
      const b = impl.createBalancer(FOUR, { seed: 1 });
      b.setLive('b', false);
      const picks = busyPicks(b, 2_000);
      expect(picks, 'picked backend "b" while it was down').not.toContain('b');
      expect(new Set(picks)).toEqual(new Set(['a', 'c', 'd']));
      b.setLive('b', true);
      expect(idlePicks(b, 200), 'backend "b" got no request after it came back up').toContain('b');
    });

    it('throws a clear error when every backend is down, and for an unknown backend', () => {
      const b = impl.createBalancer(FOUR);
      for (const { id } of FOUR) b.setLive(id, false);
      expect(() => b.pick('k')).toThrow(/no live backend/);
      expect(() => b.setLive('zz', true)).toThrow(RangeError);
    });

    it('follows the weights on an idle stream (shares within 2 points of w / Σw)', () => {
      const weights = [1, 2, 3, 4];
      const b = impl.createBalancer(weights.map((w, i) => ({ id: `w${i}`, weight: w })), { seed: 7 });
      const c = counts(idlePicks(b, 20_000));
      weights.forEach((w, i) => {
        const share = (c[`w${i}`] ?? 0) / 20_000;
        expect(Math.abs(share - w / 10), `backend w${i} (weight ${w} of 10) got ${pct(share)} of 20,000 idle picks, expected ${pct(w / 10)}`).toBeLessThan(0.02);
      });
    });

    it('is deterministic: same seed, same calls, same picks', () => {
      const run = () => busyPicks(impl.createBalancer(FOUR, { seed: 42 }), 1_000);
      expect(run(), 'two balancers with seed 42 picked differently for the same calls').toEqual(run());
    });

    it('rejects an empty list, duplicate ids and non-positive weights', () => {
      expect(() => impl.createBalancer([])).toThrow(RangeError);
      expect(() => impl.createBalancer([{ id: 'a' }, { id: 'a' }])).toThrow(RangeError);
      expect(() => impl.createBalancer([{ id: 'a', weight: 0 }])).toThrow(RangeError);
    });
  });

  describe('key router', () => {
    it('routes every key to a member, never to a backend that left, and deterministically', () => {
      const r = impl.createKeyRouter(TEN);
      const owners = new Set(KEYS.map((k) => r.route(k)));
      expect([...owners].sort()).toEqual([...TEN].sort());
      r.remove('node-3');
      expect(KEYS.some((k) => r.route(k) === 'node-3'), 'a key was routed to node-3 after it left').toBe(false);
      const again = impl.createKeyRouter(TEN.filter((id) => id !== 'node-3'));
      expect(KEYS.map((k) => again.route(k))).toEqual(KEYS.map((k) => r.route(k)));
    });

    it('a backend that joins gets keys; adding a member twice or removing a stranger throws', () => {
      const r = impl.createKeyRouter(TEN);
      r.add('node-10');
      expect(KEYS.some((k) => r.route(k) === 'node-10'), 'node-10 joined but owns no key').toBe(true);
      expect(() => r.add('node-10')).toThrow(RangeError);
      expect(() => r.remove('nobody')).toThrow(RangeError);
    });
  });

  // What the lesson is about. before.ts (round-robin, modulo) is the naive reference these rules are about.
  describe.skipIf(name === 'before')('what users and caches see', () => {
    it('keeps the simulated p99 under 100 ms at 70% load with one replica at half speed', () => {
      // 8 replicas, 4 slots each, lognormal service around 10 ms; replica-7 at 20 ms. Seeded: same numbers every run.
      const backends = unevenBackends(8, { slowFactor: 2 });
      const b = impl.createBalancer(backends.map((x) => ({ id: x.id })), { seed: 3 });
      const r = simulate(b, { backends, load: 0.7, requests: 20_000, keys: 1_000, seed: 5 });
      const share = r.share['replica-7'];
      const canServe = 0.5 / 7.5; // its share of the total capacity
      expect(
        r.p99,
        `simulated p99 ${r.p99.toFixed(0)} ms at 70% load (p50 ${r.p50.toFixed(1)} ms): the half-speed replica got ${pct(share)} ` +
          `of the requests but can serve only ${pct(canServe)} of them, so its queue grew for the whole run: ` +
          `a share by count ignores that one replica finishes requests at half the rate of the others`,
      ).toBeLessThanOrEqual(100);
      expect(share, `the half-speed replica got ${pct(share)} of the requests, as much as a full-speed one (12.5%)`).toBeLessThan(0.1);
    });

    it('join: moves at most 1/(N+1) + 0.04 of the keys, each to the new backend', () => {
      const r = impl.createKeyRouter(TEN);
      const old = KEYS.map((k) => r.route(k));
      r.add('node-10');
      const now = KEYS.map((k) => r.route(k));
      const moved = KEYS.filter((_, i) => old[i] !== now[i]).length;
      const elsewhere = KEYS.filter((_, i) => old[i] !== now[i] && now[i] !== 'node-10').length;
      expect(
        moved / KEYS.length,
        `an 11th backend joining moved ${pct(moved / KEYS.length)} of the keys (${moved} of ${KEYS.length}), ` +
          `${elsewhere} of them between backends that were already there: only the newcomer's share, about 1/11 = 9.1%, has to move, ` +
          `and every other key keeps its owner (and its cache)`,
      ).toBeLessThanOrEqual(1 / 11 + 0.04);
      expect(moved, 'an 11th backend joined and no key moved to it').toBeGreaterThan(0);
      expect(elsewhere, `${elsewhere} keys moved to a backend other than the one that joined`).toBe(0);
    });

    it('leave: only the keys of the backend that left move', () => {
      const r = impl.createKeyRouter(TEN);
      const old = KEYS.map((k) => r.route(k));
      r.remove('node-4');
      const now = KEYS.map((k) => r.route(k));
      const strayed = KEYS.filter((_, i) => old[i] !== 'node-4' && now[i] !== old[i]).length;
      expect(
        strayed,
        `1 of 10 backends leaving moved ${strayed} keys (${pct(strayed / KEYS.length)}) that it did not own: only node-4's keys had to move`,
      ).toBe(0);
    });

    it('spreads keys evenly: the busiest of 10 backends owns at most 1.35× the mean', () => {
      const r = impl.createKeyRouter(TEN);
      const c = counts(KEYS.map((k) => r.route(k)));
      const mean = KEYS.length / TEN.length;
      const [busiest, most] = Object.entries(c).sort((x, y) => y[1] - x[1])[0];
      const least = Math.min(...TEN.map((id) => c[id] ?? 0));
      expect(
        most / mean,
        `the busiest of 10 backends owns ${(most / mean).toFixed(2)}× the mean number of keys (${busiest}: ${most} of ${KEYS.length}; ` +
          `the least loaded: ${least}): its share of the cache and of the traffic is that much larger`,
      ).toBeLessThanOrEqual(1.35);
    });
  });
});

describe('modulo placement (before.ts): why the ring exists', () => {
  it('moves most keys when one backend joins', () => {
    const a = modulo.createKeyRouter(TEN);
    const b = modulo.createKeyRouter([...TEN, 'node-10']);
    expect(movedFraction(KEYS, (k) => a.route(k), (k) => b.route(k))).toBeGreaterThan(0.8);
  });
});
