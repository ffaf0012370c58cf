/**
 * The `npm run serve` flags for keys, rate limits and slow senders (cli-serve.ts spreads these in), and what the
 * serving process does with them before it forks or listens: on first start, a key (auth.ts ensureKeysFile).
 */
import { isIP } from 'node:net';
import { resolve } from 'node:path';
import { fail, numberFlag } from '../util/cli.ts';
import { REPO_ROOT } from '../util/paths.ts';
import type { ServerOptions } from './app.ts';
import { RATE_LIMIT_DEFAULTS } from './access.ts';
import { ensureKeysFile, readKeys } from './auth.ts';

export const DEFAULT_KEYS_FILE = '.cache/keys.json';

export const ACCESS_FLAGS = {
  'keys-file': { type: 'string' },
  auth: { type: 'string' },
  'read-access': { type: 'string' },
  'read-rate-limit': { type: 'string' },
  'write-rate-limit': { type: 'string' },
  'rate-window-ms': { type: 'string' },
  'headers-timeout-ms': { type: 'string' },
  'request-timeout-ms': { type: 'string' },
} as const;

export const ACCESS_USAGE = `
Keys, limits and slow senders (shared/serve/README.md, "Keys and limits"):
  --keys-file F            API keys (hashes only) the server accepts, re-read when it changes (default
                           ${DEFAULT_KEYS_FILE}, env KEYS_FILE). Missing on start: created with one admin key, which
                           is printed once to stderr. Manage keys with npm run keys -- create|list|revoke
  --auth on|off            off: no key needed anywhere; development only, refused unless --host is loopback
                           (default on, env AUTH)
  --read-access open|key   key: queries need a key with the read scope (default open, env READ_ACCESS)
  --read-rate-limit N      queries per window per key, or per client IP without one; 0 = unlimited (default
                           ${RATE_LIMIT_DEFAULTS.read}, env READ_RATE_LIMIT)
  --write-rate-limit N     writes per window per key; 0 = unlimited (default ${RATE_LIMIT_DEFAULTS.write}, env WRITE_RATE_LIMIT).
                           Over a budget: 429 + Retry-After. Counted in Redis with REDIS_URL, else per process
  --rate-window-ms MS      rate-limit window (default ${RATE_LIMIT_DEFAULTS.windowMs}, env RATE_WINDOW_MS)
  --headers-timeout-ms MS  a request's headers must arrive within MS, else 408 and the connection is closed
                           (default 10000, 0 = no limit, env HEADERS_TIMEOUT_MS)
  --request-timeout-ms MS  a request's headers and body must arrive within MS, else 408 and close (default
                           30000, 0 = no limit, env REQUEST_TIMEOUT_MS)`;

type AccessValues = { [K in keyof typeof ACCESS_FLAGS]?: string };

export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '');
  if (h === 'localhost') return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  return h === '::1';
}

/** The ServerOptions these flags (or their environment variables) set. Exits 2 on a bad value. */
export function accessOptions(
  values: AccessValues,
  host: string,
  redisUrl: string | undefined,
): { keysFile: string | undefined; server: Pick<ServerOptions, 'auth' | 'rateLimit' | 'headersTimeoutMs' | 'requestTimeoutMs'> } {
  const env = process.env;
  const nonNegInt = (n: number) => Number.isInteger(n) && n >= 0;
  const authMode = values.auth ?? env.AUTH ?? 'on';
  if (authMode !== 'on' && authMode !== 'off') fail(`--auth got "${authMode}": expected on or off`);
  const readAccess = values['read-access'] ?? env.READ_ACCESS ?? 'open';
  if (readAccess !== 'open' && readAccess !== 'key') fail(`--read-access got "${readAccess}": expected open or key`);
  if (authMode === 'off' && !isLoopback(host)) {
    fail(`--auth off serves writes to anyone: refused with --host ${host}; it is allowed only on a loopback address (127.0.0.1, ::1, localhost)`);
  }
  const keysFile = authMode === 'off' ? undefined : resolve(REPO_ROOT, values['keys-file'] ?? env.KEYS_FILE ?? DEFAULT_KEYS_FILE);
  const num = (flag: keyof AccessValues, envName: string, fallback: number) =>
    numberFlag(flag, values[flag] ?? env[envName], fallback, nonNegInt);
  const headersTimeoutMs = num('headers-timeout-ms', 'HEADERS_TIMEOUT_MS', 10_000);
  const requestTimeoutMs = num('request-timeout-ms', 'REQUEST_TIMEOUT_MS', 30_000);
  if (headersTimeoutMs > 0 && requestTimeoutMs > 0 && headersTimeoutMs > requestTimeoutMs) {
    fail(`--headers-timeout-ms ${headersTimeoutMs} must not exceed --request-timeout-ms ${requestTimeoutMs}`);
  }
  return {
    keysFile,
    server: {
      auth: keysFile === undefined ? false : { keysFile, readAccess },
      rateLimit: {
        read: num('read-rate-limit', 'READ_RATE_LIMIT', RATE_LIMIT_DEFAULTS.read),
        write: num('write-rate-limit', 'WRITE_RATE_LIMIT', RATE_LIMIT_DEFAULTS.write),
        windowMs: numberFlag('rate-window-ms', values['rate-window-ms'] ?? env.RATE_WINDOW_MS, RATE_LIMIT_DEFAULTS.windowMs, (n) => Number.isInteger(n) && n > 0),
        redisUrl,
      },
      headersTimeoutMs,
      requestTimeoutMs,
    },
  };
}

/**
 * Before forking or listening (the primary or the single process, once): on first start creates the keys file with
 * an admin key printed to stderr; checks that the file reads; warns when it holds no key.
 */
export function prepareKeys(keysFile: string | undefined, warn: (msg: string) => void): void {
  if (keysFile === undefined) {
    warn('authentication is off (--auth off): anyone who can reach this address can write and delete');
    return;
  }
  ensureKeysFile(keysFile);
  const keys = readKeys(keysFile);
  if (keys.length === 0) warn(`${keysFile} holds no key: writes and /metrics answer 401 until one is created (npm run keys -- create)`);
}
