/**
 * The one id rule, the same on every route that takes a document id (POST /v1/documents, DELETE /v1/documents/:id,
 * DELETE /v1/documents):
 *
 * - 1 to 512 characters (Unicode code points; the JSON schemas check the length, schemas.ts API_LIMITS.maxIdChars);
 * - valid Unicode: no unpaired surrogate (a JSON "\ud800" escape), and on the wire valid UTF-8 (a body or a URL whose
 *   bytes are not UTF-8 is refused before it is parsed: app.ts), so two different raw ids can never both become
 *   the same string with U+FFFD in it;
 * - no control characters (U+0000–U+001F, U+007F–U+009F);
 * - no duplicates within one request (400 naming them).
 *
 * Anything else is an ordinary character: `brown/ca01`, `../../etc/passwd` (an id is never used as a path) or
 * `日本語/1` are all ids. In a URL the id is one percent-encoded path segment (`encodeURIComponent(id)`); the
 * router accepts up to API_LIMITS.maxEncodedIdChars there, enough for 512 four-byte characters.
 */
import { HttpError } from './http-errors.ts';

const BAD_CHAR = /[\u0000-\u001f\u007f-\u009f]|[\ud800-\udfff]/u;

/** Why `id` breaks the character rule (the schemas check type and length), or undefined when it does not. */
export function idProblem(id: string): string | undefined {
  const m = BAD_CHAR.exec(id);
  if (!m) return undefined;
  const code = m[0].charCodeAt(0);
  const u = `U+${code.toString(16).toUpperCase().padStart(4, '0')}`;
  return code >= 0xd800 && code <= 0xdfff ? `contains an unpaired surrogate (${u})` : `contains a control character (${u})`;
}

/** Throws 400 naming the field when an id breaks the rule or repeats. `field(i)` names the i-th id. */
export function checkIds(ids: readonly string[], field: (i: number) => string, batch: string): void {
  const firstAt = new Map<string, number>();
  const dups: Array<[string, number, number]> = [];
  for (let i = 0; i < ids.length; i++) {
    const problem = idProblem(ids[i]);
    if (problem) throw new HttpError(400, `${field(i)} ${problem}`);
    const seen = firstAt.get(ids[i]);
    if (seen === undefined) firstAt.set(ids[i], i);
    else if (dups.length < 5) dups.push([ids[i], seen, i]);
  }
  if (dups.length > 0) {
    const shown = dups.map(([id, a, b]) => `${JSON.stringify(id.length > 80 ? `${id.slice(0, 80)}…` : id)} (at ${a} and ${b})`);
    throw new HttpError(400, `${batch} has duplicate ids: ${shown.join(', ')}; each id may appear once per request`);
  }
}
