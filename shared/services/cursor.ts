/**
 * Opaque, validated page cursors: the position after the last row a client saw, as a string it hands back for the
 * next page. A cursor names a **key** (the last id seen: keyset pagination), never an offset, so a page boundary
 * stays put when rows are added or removed before it (an offset moves: the next page repeats or skips a row).
 *
 *     const cursors = new CursorCodec(secret);
 *     const c = cursors.encode({ after: 'brown/ca07', scope: 'genre=news' });   // "eyJ2IjoxLC….Qk2x…"
 *     cursors.decode(c, 'genre=news');                                          // { after: 'brown/ca07', scope: … }
 *     cursors.decode('garbage', 'genre=news');                                  // throws CursorError (400)
 *
 * Format: base64url(JSON {v: 1, a: after, s: scope}) "." base64url(HMAC-SHA256(payload) truncated to 12 bytes).
 * `decode` checks everything before anything reads the key: two parts, the signature (so a cursor is not edited or
 * made up by the client), the JSON, the version, the key's type and length, and the **scope** (the listing the
 * cursor came from: a cursor of `genre=news` handed to `genre=fiction` is refused, not silently applied). A bad
 * cursor is a `CursorError`: RagError 'INVALID_INPUT' with code `INVALID_CURSOR` in `reason`; the HTTP layer answers
 * 400 problem+json, GraphQL a BAD_USER_INPUT error, and the store is never asked.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { RagError } from '../errors.ts';

export interface CursorKey {
  /** The last id the client saw (exclusive start of the next page). */
  after: string;
  /** The listing the cursor belongs to (its filters), e.g. 'genre=news'; '' for the whole collection. */
  scope: string;
}

export class CursorError extends RagError {
  readonly reason = 'INVALID_CURSOR';

  constructor(message: string) {
    super('INVALID_INPUT', message);
    this.name = 'CursorError';
  }
}

export function isCursorError(err: unknown): err is CursorError {
  return err instanceof CursorError;
}

const VERSION = 1;
const SIG_BYTES = 12;
/** Longest cursor accepted, in characters (a key of 512 characters fits). */
export const MAX_CURSOR_CHARS = 4096;
const B64URL = /^[A-Za-z0-9_-]+$/;

export class CursorCodec {
  private readonly secret: Buffer;

  /** `secret`: the HMAC key (a process's own random one by default; give every replica the same one). */
  constructor(secret: string | Buffer = randomBytes(32)) {
    this.secret = typeof secret === 'string' ? Buffer.from(secret, 'utf8') : secret;
  }

  private sign(payload: string): Buffer {
    return createHmac('sha256', this.secret).update(payload).digest().subarray(0, SIG_BYTES);
  }

  encode(key: CursorKey): string {
    const payload = Buffer.from(JSON.stringify({ v: VERSION, a: key.after, s: key.scope }), 'utf8').toString('base64url');
    return `${payload}.${this.sign(payload).toString('base64url')}`;
  }

  /** The key of a cursor made by `encode` for the listing `scope`; throws CursorError for anything else. */
  decode(cursor: unknown, scope: string): CursorKey {
    if (typeof cursor !== 'string' || cursor.length === 0) throw new CursorError('the cursor must be a non-empty string from a previous page');
    if (cursor.length > MAX_CURSOR_CHARS) throw new CursorError(`the cursor is ${cursor.length} characters, longer than any this service makes`);
    const parts = cursor.split('.');
    if (parts.length !== 2 || !B64URL.test(parts[0]) || !B64URL.test(parts[1])) {
      throw new CursorError('the cursor is not one this service made (malformed): pass endCursor from a previous page unchanged');
    }
    const given = Buffer.from(parts[1], 'base64url');
    const expected = this.sign(parts[0]);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      throw new CursorError('the cursor is not one this service made (signature does not match): pass endCursor from a previous page unchanged');
    }
    let body: unknown;
    try {
      body = JSON.parse(Buffer.from(parts[0], 'base64url').toString('utf8'));
    } catch {
      throw new CursorError('the cursor does not decode');
    }
    const b = body as { v?: unknown; a?: unknown; s?: unknown };
    if (typeof body !== 'object' || body === null || b.v !== VERSION) throw new CursorError(`the cursor has an unknown version (this service reads version ${VERSION})`);
    if (typeof b.a !== 'string' || b.a.length === 0 || typeof b.s !== 'string') throw new CursorError('the cursor does not name a position');
    if (b.s !== scope) {
      throw new CursorError(`the cursor belongs to another listing (${JSON.stringify(b.s)}, not ${JSON.stringify(scope)}): start again without a cursor`);
    }
    return { after: b.a, scope: b.s };
  }
}
