/**
 * Who may call a route, and how often: one onRequest hook, before the body is read, so a refused request costs a
 * hash and a lookup, never a parse.
 *
 * Each route says what it needs in its config (routes/*.ts):
 *
 *     config: { access: 'write', budget: 'write' }     a key with the write scope; counted in the write budget
 *     config: { access: 'read', budget: 'read' }       open unless reads are keyed; counted in the read budget
 *     config: { access: 'admin' }                      a key with the admin scope
 *     config: { access: 'key' }                        any valid key (GET /v1/whoami)
 *     (no access)                                      open (/healthz, /readyz, /openapi.json, unknown routes)
 *
 * 1. Authentication (auth.ts): no key, a malformed header or an unknown key → 401 + `WWW-Authenticate: Bearer …`;
 *    the wrong scope → 403. On an open read a key is optional, but a key that is presented must be valid (401); it
 *    needs no scope there, and names the client for the read budget.
 * 2. Rate limit (@fastify/rate-limit's counters, its Redis store when REDIS_URL is set): a fixed window of
 *    `windowMs`; per key (`key:<id>`) or, for anonymous reads, per client IP (`ip:<addr>`); separate budgets for
 *    reads and writes. Over budget → 429 + `Retry-After` (seconds left in the window). Every counted response
 *    carries `x-ratelimit-limit`, `x-ratelimit-remaining` and `x-ratelimit-reset`. A key's record can override a
 *    budget (`rateLimit: {write: 0}`: unlimited). Budget 0 = no limit (no counting at all). Without Redis each
 *    process counts for itself: in a cluster of N workers a client can get up to N × the budget. When Redis does
 *    not answer, requests are let through (a rate limit must not take the service down with it).
 */
import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Redis } from 'ioredis';
import { KeyStore, type KeyRecord, type Scope } from './auth.ts';
import { HttpError } from './http-errors.ts';

/** What a route needs: a scope, or any valid key. */
export type Access = Scope | 'key';
export type Budget = 'read' | 'write';

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: Access;
    budget?: Budget;
  }
  interface FastifyRequest {
    /** The key the request authenticated with, if any. */
    apiKey?: KeyRecord;
  }
}

export interface AuthOptions {
  /** Keys file (auth.ts), re-read when it changes. */
  keysFile?: string;
  /** Keys given in code (tests), accepted besides the file's. */
  keys?: KeyRecord[];
  /** 'open' (default): anyone may query; 'key': queries need a key with the read scope. */
  readAccess?: 'open' | 'key';
  /** Called when the keys file changed but could not be read (the keys already loaded stay in force). */
  onReloadError?: (err: Error) => void;
}

export interface RateLimitOptions {
  /** Read requests per window per key (or per IP for anonymous reads); 0 = unlimited. Default 0. */
  read?: number;
  /** Write requests per window per key; 0 = unlimited. Default 1200. */
  write?: number;
  /** Window in ms. Default 60,000. */
  windowMs?: number;
  /** A Redis client: the counters are shared by every process that uses the same Redis. */
  redis?: Redis;
}

export const RATE_LIMIT_DEFAULTS = { read: 0, write: 1200, windowMs: 60_000 } as const;

const REALM = 'Bearer realm="rag"';
const HOW = 'send "Authorization: Bearer <key>" (npm run keys -- create --scope';

const kBudgetMax = Symbol('rag.budgetMax');
const kClient = Symbol('rag.client');
type Counted = FastifyRequest & { [kBudgetMax]?: number; [kClient]?: string };

/**
 * Adds the access hook to `app` (before its routes are registered). `auth: false` leaves every route open (the
 * rate limits still apply, per IP). Returns a close function (stops watching the keys file).
 */
export async function registerAccess(
  app: FastifyInstance,
  auth: AuthOptions | false,
  limits: RateLimitOptions = {},
): Promise<{ keys: KeyStore | undefined; close(): void }> {
  const keys = auth === false ? undefined : new KeyStore({ file: auth.keysFile, keys: auth.keys, onReloadError: auth.onReloadError });
  const readKeyed = auth !== false && auth.readAccess === 'key';
  const defaults = { read: limits.read ?? RATE_LIMIT_DEFAULTS.read, write: limits.write ?? RATE_LIMIT_DEFAULTS.write };
  const windowMs = limits.windowMs ?? RATE_LIMIT_DEFAULTS.windowMs;

  await app.register(rateLimit, {
    global: false,
    skipOnError: true,
    ...(limits.redis ? { redis: limits.redis, nameSpace: 'rag-ratelimit:' } : {}),
  });
  const limiter = (budget: Budget) =>
    app.createRateLimit({
      timeWindow: windowMs,
      max: (req) => (req as Counted)[kBudgetMax] ?? 1,
      keyGenerator: (req) => `${budget}:${(req as Counted)[kClient]}`,
    });
  const limiters = { read: limiter('read'), write: limiter('write') };

  app.decorateRequest('apiKey', undefined);

  /** Authenticates and checks the scope; throws 401/403. */
  const authenticate = (request: FastifyRequest, access: Access): void => {
    const r = keys!.authenticate(request.headers.authorization);
    if ('failure' in r) {
      const what = access === 'key' ? 'an API key' : `an API key with the ${access} scope`;
      const message =
        r.failure === 'missing'
          ? `this route needs ${what}: ${HOW} ${access === 'key' ? 'read' : access})`
          : r.failure === 'malformed'
            ? 'the Authorization header must be "Bearer <key>"'
            : 'unknown or revoked API key';
      const challenge = r.failure === 'missing' ? REALM : `${REALM}, error="invalid_token"`;
      throw new HttpError(401, message, { 'www-authenticate': challenge });
    }
    // an open read needs no scope: a key there only names the client for the read budget
    const scopeNeeded = access !== 'key' && (access !== 'read' || readKeyed);
    if (scopeNeeded && !r.record.scopes.includes(access as Scope)) {
      throw new HttpError(403, `API key "${r.record.name}" lacks the ${access} scope this route needs`, {
        'www-authenticate': `${REALM}, error="insufficient_scope", scope="${access}"`,
      });
    }
    request.apiKey = r.record;
  };

  /** Counts the request in its budget; throws 429 over it. */
  const count = async (request: FastifyRequest, reply: FastifyReply, budget: Budget, max: number): Promise<void> => {
    const counted = request as Counted;
    counted[kBudgetMax] = max;
    counted[kClient] = request.apiKey ? `key:${request.apiKey.id}` : `ip:${request.ip}`;
    const res = await limiters[budget](request);
    if (res.isAllowed) return;
    reply.header('x-ratelimit-limit', res.max);
    reply.header('x-ratelimit-remaining', res.remaining);
    reply.header('x-ratelimit-reset', res.ttlInSeconds);
    if (res.isExceeded) {
      const retry = Math.max(1, res.ttlInSeconds);
      throw new HttpError(429, `${budget} rate limit of ${res.max} per ${windowMs / 1000} s exceeded; retry in ${retry} s`, {
        'retry-after': String(retry),
      });
    }
  };

  // callback style: an open, unlimited read (the common query) costs no promise
  app.addHook('onRequest', (request, reply, done) => {
    const config = request.routeOptions.config;
    const access = config?.access;
    if (access === undefined) return done();
    try {
      if (keys !== undefined && (access !== 'read' || readKeyed || request.headers.authorization !== undefined)) {
        authenticate(request, access);
      }
    } catch (err) {
      return done(err as Error);
    }
    const budget = config.budget;
    const max = budget === undefined ? 0 : (request.apiKey?.rateLimit?.[budget] ?? defaults[budget]);
    if (budget === undefined || max <= 0) return done();
    count(request, reply, budget, max).then(() => done(), done);
  });

  return {
    keys,
    close: () => keys?.close(),
  };
}
