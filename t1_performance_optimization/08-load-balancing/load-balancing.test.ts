/**
 * Checkpoint for 08-load-balancing. `npm run checkpoint -- 08-load-balancing` runs it against exercise.ts;
 * plain `npx vitest run` checks before.ts (round-robin, modulo) and after.ts (power-of-two-choices, hash ring).
 *
 * Every balancer picks only live backends, follows its weights on an idle stream, is deterministic for a seed and
 * rejects a bad configuration. The load-aware balancer sends a slow replica less than an equal share; the hash ring
 * moves only ≈ 1/N of the keys when a backend joins or leaves (modulo placement moves most of them).
 * The latency claims are simulated (simulate.ts, virtual time): nothing here measures wall-clock time.
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

describe.each(await implementations<Mod>(import.meta.url))('%s', (name, impl) => {
  describe('balancer', () => {
    it('picks only live backends, and a backend that comes back gets requests again', () => {
      const b = impl.createBalancer(FOUR, { seed: 1 });
      b.setLive('b', false);
      const picks = busyPicks(b, 2_000);
      expect(picks).not.toContain('b');
      expect(new Set(picks)).toEqual(new Set(['a', 'c', 'd']));
      b.setLive('b', true);
      expect(idlePicks(b, 200)).toContain('b');
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
      weights.forEach((w, i) => expect(Math.abs((c[`w${i}`] ?? 0) / 20_000 - w / 10)).toBeLessThan(0.02));
    });

    it('is deterministic: same seed, same calls, same picks', () => {
      const run = () => busyPicks(impl.createBalancer(FOUR, { seed: 42 }), 1_000);
      expect(run()).toEqual(run());
    });

    it('rejects an empty list, duplicate ids and non-positive weights', () => {
      expect(() => impl.createBalancer([])).toThrow(RangeError);
      expect(() => impl.createBalancer([{ id: 'a' }, { id: 'a' }])).toThrow(RangeError);
      expect(() => impl.createBalancer([{ id: 'a', weight: 0 }])).toThrow(RangeError);
    });

    it.runIf(name !== 'before')('sends a half-speed replica less than an equal share under load (simulated)', () => {
      const backends = unevenBackends(8, { slowFactor: 2 });
      const b = impl.createBalancer(backends.map((x) => ({ id: x.id })), { seed: 3 });
      const r = simulate(b, { backends, load: 0.7, requests: 20_000, keys: 1_000, seed: 5 });
      expect(r.share['replica-7']).toBeLessThan(1 / 8 - 0.02);
    });
  });

  describe('key router', () => {
    it('routes every key to a member, never to a backend that left, and deterministically', () => {
      const r = impl.createKeyRouter(TEN);
      const owners = new Set(KEYS.map((k) => r.route(k)));
      expect([...owners].sort()).toEqual([...TEN].sort());
      r.remove('node-3');
      expect(KEYS.some((k) => r.route(k) === 'node-3')).toBe(false);
      const again = impl.createKeyRouter(TEN.filter((id) => id !== 'node-3'));
      expect(KEYS.map((k) => again.route(k))).toEqual(KEYS.map((k) => r.route(k)));
    });

    it('a backend that joins gets keys; adding a member twice or removing a stranger throws', () => {
      const r = impl.createKeyRouter(TEN);
      r.add('node-10');
      expect(KEYS.some((k) => r.route(k) === 'node-10')).toBe(true);
      expect(() => r.add('node-10')).toThrow(RangeError);
      expect(() => r.remove('nobody')).toThrow(RangeError);
    });

    it.runIf(name !== 'before')('join: moves ≤ 1/(N+1) + 0.04 of the keys, each to the new backend', () => {
      const r = impl.createKeyRouter(TEN);
      const old = KEYS.map((k) => r.route(k));
      r.add('node-10');
      const now = KEYS.map((k) => r.route(k));
      const moved = KEYS.filter((_, i) => old[i] !== now[i]).length / KEYS.length;
      expect(moved).toBeGreaterThan(0);
      expect(moved).toBeLessThanOrEqual(1 / 11 + 0.04);
      KEYS.forEach((_, i) => old[i] !== now[i] && expect(now[i]).toBe('node-10'));
    });

    it.runIf(name !== 'before')('leave: only the keys of the backend that left move (≤ 1/N + 0.04)', () => {
      const r = impl.createKeyRouter(TEN);
      const old = KEYS.map((k) => r.route(k));
      r.remove('node-4');
      const now = KEYS.map((k) => r.route(k));
      KEYS.forEach((_, i) => old[i] !== 'node-4' && expect(now[i]).toBe(old[i]));
      expect(old.filter((o) => o === 'node-4').length / KEYS.length).toBeLessThanOrEqual(1 / 10 + 0.04);
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
