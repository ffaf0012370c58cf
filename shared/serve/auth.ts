/**
 * API keys: who may call which route.
 *
 * A key is `rag_` + 32 random bytes (base64url), shown once when it is created and never stored: the keys file holds
 * its SHA-256, a name, its scopes and an id. A request presents `Authorization: Bearer <key>`; the server hashes what
 * it got and compares it with every stored hash in constant time (crypto.timingSafeEqual, no early exit), so neither
 * the file nor the time a comparison takes tells anything about a key. The keys are 256-bit random, so a fast hash is
 * enough (a slow password hash protects guessable secrets; these are not guessable).
 *
 *     { "version": 1, "keys": [ { "id": "k_3f9a0c21", "name": "ingest-bot", "scopes": ["write"],
 *                                 "hash": "sha256:…64 hex…", "created": "2026-11-30T08:00:00.000Z",
 *                                 "rateLimit": { "write": 0 } } ] }
 *
 * Scopes do not imply one another (a key gets the ones it is given):
 *
 *     read    POST /v1/query, only when reads are keyed (--read-access key; default: reads are open)
 *     write   POST /v1/documents, DELETE /v1/documents/:id, DELETE /v1/documents
 *     admin   GET /metrics
 *
 * Answers: no key, a malformed header or an unknown key → 401 with `WWW-Authenticate: Bearer …`; a known key without
 * the route's scope → 403 (`error="insufficient_scope"`). GET /healthz, /readyz and /openapi.json are always open.
 *
 * The server re-reads the keys file when it changes (polled once a second), so `npm run keys -- create|revoke` takes
 * effect on a running server within about a second, in every worker. The file is written whole to a temporary file,
 * fsync'd and renamed over the old one (mode 0600), so a reader never sees half of it.
 *
 * First start (`npm run serve` with no keys file): see `ensureKeysFile`.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import {
  closeSync,
  existsSync,
  fsyncSync,
  linkSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  unlinkSync,
  unwatchFile,
  watchFile,
  writeSync,
} from 'node:fs';
import { dirname } from 'node:path';
import { RagError } from '../errors.ts';

export const SCOPES = ['read', 'write', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];

/** Per-key rate-limit overrides: requests per window (0 = unlimited); absent = the server's default budget. */
export interface KeyRateLimits {
  read?: number;
  write?: number;
}

/** One stored key. The key itself is not here: only its SHA-256. */
export interface KeyRecord {
  id: string;
  name: string;
  scopes: Scope[];
  /** `sha256:<64 hex>`. */
  hash: string;
  /** ISO time of creation. */
  created: string;
  rateLimit?: KeyRateLimits;
}

interface KeysFile {
  version: 1;
  keys: KeyRecord[];
}

const KEY_PREFIX = 'rag_';
/** RFC 6750 b64token, bounded: anything else in `Authorization: Bearer …` is malformed. */
const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]{1,256}=*) *$/i;

export function hashKey(key: string): string {
  return `sha256:${createHash('sha256').update(key, 'utf8').digest('hex')}`;
}

/** A new random key and its record (the caller stores the record and shows the key once). */
export function generateKey(name: string, scopes: Scope[], rateLimit?: KeyRateLimits): { key: string; record: KeyRecord } {
  const key = KEY_PREFIX + randomBytes(32).toString('base64url');
  const record: KeyRecord = {
    id: `k_${randomBytes(4).toString('hex')}`,
    name,
    scopes: [...new Set(scopes)].sort((a, b) => SCOPES.indexOf(a) - SCOPES.indexOf(b)),
    hash: hashKey(key),
    created: new Date().toISOString(),
  };
  if (rateLimit && Object.keys(rateLimit).length > 0) record.rateLimit = rateLimit;
  return { key, record };
}

function checkRecord(r: unknown, where: string): KeyRecord {
  const o = r as Record<string, unknown>;
  const bad = (what: string) => new RagError('CORRUPT', `${where}: ${what}`);
  if (typeof o !== 'object' || o === null) throw bad('a key is not an object');
  if (typeof o.id !== 'string' || typeof o.name !== 'string') throw bad('a key has no id or name');
  if (typeof o.hash !== 'string' || !/^sha256:[0-9a-f]{64}$/.test(o.hash)) throw bad(`key ${o.id}: hash is not sha256:<64 hex>`);
  if (!Array.isArray(o.scopes) || !o.scopes.every((s) => (SCOPES as readonly unknown[]).includes(s))) {
    throw bad(`key ${o.id}: scopes must be a list of ${SCOPES.join(', ')}`);
  }
  if (o.rateLimit !== undefined) {
    const rl = o.rateLimit as Record<string, unknown>;
    for (const k of ['read', 'write']) {
      const v = rl?.[k];
      if (v !== undefined && !(Number.isInteger(v) && (v as number) >= 0)) throw bad(`key ${o.id}: rateLimit.${k} must be a non-negative integer`);
    }
  }
  return o as unknown as KeyRecord;
}

/** The keys in a keys file; [] when the file does not exist. Throws RagError('CORRUPT') for a file that is not one. */
export function readKeys(file: string): KeyRecord[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  let parsed: KeysFile;
  try {
    parsed = JSON.parse(text) as KeysFile;
  } catch {
    throw new RagError('CORRUPT', `${file} is not JSON`);
  }
  if (parsed?.version !== 1 || !Array.isArray(parsed.keys)) throw new RagError('CORRUPT', `${file}: expected {"version": 1, "keys": [...]}`);
  return parsed.keys.map((k) => checkRecord(k, file));
}

/** Writes `keys` to a new temporary file beside `file` (mode 0600) and fsyncs it; returns its path. */
function writeTemp(file: string, keys: KeyRecord[]): string {
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.${randomBytes(3).toString('hex')}.tmp`;
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeSync(fd, `${JSON.stringify({ version: 1, keys } satisfies KeysFile, null, 2)}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return tmp;
}

function fsyncDir(dir: string): void {
  try {
    const dfd = openSync(dir, 'r');
    fsyncSync(dfd);
    closeSync(dfd);
  } catch {
    // some file systems cannot fsync a directory; the rename is still atomic
  }
}

/** Replaces the keys file atomically: temp file (mode 0600), fsync, rename. */
export function writeKeys(file: string, keys: KeyRecord[]): void {
  renameSync(writeTemp(file, keys), file);
  fsyncDir(dirname(file));
}

/** Creates a key, adds its record to the keys file, and returns the key (shown once: it is not stored). */
export function createKey(file: string, name: string, scopes: Scope[], rateLimit?: KeyRateLimits): { key: string; record: KeyRecord } {
  if (scopes.length === 0) throw new RagError('INVALID_INPUT', `a key needs at least one scope (${SCOPES.join(', ')})`);
  const keys = readKeys(file);
  const made = generateKey(name, scopes, rateLimit);
  writeKeys(file, [...keys, made.record]);
  return made;
}

/** Removes the keys whose id or name is `idOrName`; returns the removed records. */
export function revokeKey(file: string, idOrName: string): KeyRecord[] {
  const keys = readKeys(file);
  const removed = keys.filter((k) => k.id === idOrName || k.name === idOrName);
  if (removed.length > 0) writeKeys(file, keys.filter((k) => !removed.includes(k)));
  return removed;
}

/**
 * First start: when `file` does not exist, creates it with one key holding every scope and prints that key to
 * `out` (stderr), once, with where its hash was stored. Returns the key, or undefined when the file existed
 * (an existing file with no keys is left alone: someone revoked them on purpose).
 */
export function ensureKeysFile(file: string, out: (text: string) => void = (t) => process.stderr.write(t)): string | undefined {
  if (existsSync(file)) return undefined;
  const { key, record } = generateKey('admin (created on first start)', [...SCOPES]);
  // create-if-absent in one step (link fails when the file exists): two servers starting at once on the same file
  // cannot each print a key only one of them stored
  const tmp = writeTemp(file, [record]);
  try {
    linkSync(tmp, file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return undefined;
    throw err;
  } finally {
    unlinkSync(tmp);
  }
  fsyncDir(dirname(file));
  out(
    [
      '',
      `No API keys yet: created one with the scopes ${record.scopes.join(', ')} (id ${record.id}).`,
      `Only its SHA-256 is stored, in ${file}; the key is shown this once:`,
      '',
      `    ${key}`,
      '',
      'Writes and GET /metrics need it:  -H "Authorization: Bearer <key>". More keys: npm run keys -- create --scope write',
      '',
    ].join('\n'),
  );
  return key;
}

/** Why a request was not authenticated. */
export type AuthFailure = 'missing' | 'malformed' | 'unknown';

/** The keys a server accepts: from a keys file (re-read when it changes) and/or given in code. */
export class KeyStore {
  private entries: Array<{ record: KeyRecord; digest: Buffer }> = [];
  private readonly inline: KeyRecord[];
  private readonly onChange = () => this.reload();
  private watching = false;

  constructor(
    private readonly opts: { file?: string; keys?: KeyRecord[]; onReloadError?: (err: Error) => void; pollMs?: number },
  ) {
    this.inline = opts.keys ?? [];
    this.load(opts.file ? readKeys(opts.file) : []);
    if (opts.file) {
      // polling (stat), so an atomic rename by another process is seen, in every worker
      watchFile(opts.file, { interval: opts.pollMs ?? 1000, persistent: false }, this.onChange);
      this.watching = true;
    }
  }

  /** Number of keys accepted now. */
  get size(): number {
    return this.entries.length;
  }

  /** Re-reads the keys file; on an unreadable file keeps the keys it had and reports the error. */
  reload(): void {
    if (!this.opts.file) return;
    try {
      this.load(readKeys(this.opts.file));
    } catch (err) {
      this.opts.onReloadError?.(err as Error);
    }
  }

  private load(fromFile: KeyRecord[]): void {
    this.entries = [...this.inline, ...fromFile].map((record) => ({
      record,
      digest: Buffer.from(record.hash.slice('sha256:'.length), 'hex'),
    }));
  }

  /** The key record for an Authorization header value, or why there is none. */
  authenticate(header: string | undefined): { record: KeyRecord } | { failure: AuthFailure } {
    if (header === undefined || header === '') return { failure: 'missing' };
    const m = BEARER.exec(header);
    if (!m) return { failure: 'malformed' };
    const digest = createHash('sha256').update(m[1], 'utf8').digest();
    let found: KeyRecord | undefined;
    // every stored hash is compared, in constant time each, whether or not one matched already
    for (const e of this.entries) {
      if (timingSafeEqual(digest, e.digest) && found === undefined) found = e.record;
    }
    return found ? { record: found } : { failure: 'unknown' };
  }

  close(): void {
    if (this.watching && this.opts.file) unwatchFile(this.opts.file, this.onChange);
    this.watching = false;
  }
}
