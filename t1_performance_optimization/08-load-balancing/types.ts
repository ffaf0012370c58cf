/** What every balancer and key router in this lesson looks like (before.ts, after.ts and strategies.ts share it). */

export interface BackendSpec {
  id: string;
  /** Relative share of requests; a positive integer. Default 1. */
  weight?: number;
}

export interface Balancer {
  /** The backend for the next request (`key` is used by hash-based balancers only). Throws if none is live. */
  pick(key?: string): string;
  /** The request sent to `id` finished (balancers that count in-flight requests need this). */
  done(id: string): void;
  /** Mark a backend up or down (a health check's verdict); a down backend is never picked. */
  setLive(id: string, live: boolean): void;
}

export interface BalancerOptions {
  /** Seed for balancers that draw random numbers. Default 1. */
  seed?: number;
}

export interface KeyRouter {
  /** The backend that owns `key`. Throws if there are no backends. */
  route(key: string): string;
  /** A backend joins. */
  add(id: string): void;
  /** A backend leaves. */
  remove(id: string): void;
  readonly backends: readonly string[];
}

export interface KeyRouterOptions {
  /** Virtual nodes per backend on a hash ring (consistent hashing only). Default 160. */
  vnodes?: number;
}

export function checkBackends(backends: BackendSpec[]): void {
  if (backends.length === 0) throw new RangeError('a balancer needs at least one backend');
  const seen = new Set<string>();
  for (const b of backends) {
    if (seen.has(b.id)) throw new RangeError(`duplicate backend id "${b.id}"`);
    seen.add(b.id);
    const w = b.weight ?? 1;
    if (!Number.isInteger(w) || w < 1) throw new RangeError(`backend "${b.id}": weight must be a positive integer, got ${w}`);
  }
}
