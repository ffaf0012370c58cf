/**
 * Text diffs and a compact binary delta: what a version store keeps instead of a second full copy of a document.
 *
 * A diff is a list of edits in diff-match-patch's shape, `[op, text]` with op −1 (delete), 0 (keep) or +1 (insert):
 * the kept and deleted texts concatenated give the old text, the kept and inserted ones the new text. Three ways to
 * compute one, all exact (the delta rebuilds the new text byte for byte):
 *
 *   dmpDiff    diff-match-patch (npm `diff-match-patch`): character-level Myers diff with its speed-ups (common
 *              prefix and suffix, half-match, a line-level first pass on long texts), then `diff_cleanupEfficiency`
 *              merges tiny equalities into their neighbours so the delta has fewer, cheaper instructions.
 *   wordDiff   Myers over tokens that are runs of non-space or runs of space: a changed word costs the word.
 *   lineDiff   Myers over lines: a changed word costs its whole line (in Brown prose, its whole paragraph).
 *
 * `encodeDelta` turns a diff into bytes that say how to build the new text from the old one, without repeating what
 * both share:
 *
 *     varint  old length (UTF-16 code units)     a check: applying to the wrong base fails instead of garbling
 *     varint  new length (UTF-16 code units)
 *     then instructions, each a varint (n << 2 | code):
 *       code 0  COPY n    code units from the old text at the cursor
 *       code 1  SKIP n    code units of the old text (deleted)
 *       code 2  ADD  n    bytes of UTF-8 that follow (inserted text)
 *       code 3  ADD16 n   UTF-16 code units that follow, 2 bytes each (inserted text cutting a surrogate pair)
 *
 * A one-word change in a 12 kB document is a dozen bytes, where a full copy is 12 kB. `applyDelta(old, delta)`
 * rebuilds the new text and throws a RangeError when the delta does not fit the text it is applied to.
 */
import DiffMatchPatch from 'diff-match-patch';

/** One edit: −1 delete, 0 keep, +1 insert (diff-match-patch's convention). */
export type Edit = [op: -1 | 0 | 1, text: string];

/** Computes a diff from `a` to `b`. */
export type DiffFn = (a: string, b: string) => Edit[];

const dmp = new DiffMatchPatch();
// A deadline makes a diff non-minimal (still exact) instead of slow; edits of a document are small, so it never binds.
dmp.Diff_Timeout = 1;

/** Character-level diff by diff-match-patch, cleaned up for a small delta. */
export const dmpDiff: DiffFn = (a, b) => {
  const diffs = dmp.diff_main(a, b, true);
  dmp.diff_cleanupEfficiency(diffs);
  return diffs as Edit[];
};

/** diff-match-patch's own text patch (with context lines, URI-encoded): the format its `patch_apply` reads. */
export function dmpPatchText(a: string, b: string): string {
  return dmp.patch_toText(dmp.patch_make(a, dmpDiff(a, b) as DiffMatchPatch.Diff[]));
}

/** Runs of non-space and runs of space: concatenated they give the text back exactly. */
export function wordTokens(text: string): string[] {
  return text.match(/\s+|\S+/g) ?? [];
}

/** Lines, each with its newline: concatenated they give the text back exactly. */
export function lineTokens(text: string): string[] {
  return text.match(/[^\n]*\n|[^\n]+/g) ?? [];
}

/** Myers diff over word tokens. */
export const wordDiff: DiffFn = (a, b) => tokenDiff(wordTokens(a), wordTokens(b));

/** Myers diff over lines. */
export const lineDiff: DiffFn = (a, b) => tokenDiff(lineTokens(a), lineTokens(b));

/** Above this many differences between two token lists, the middle is replaced whole (a delete and an insert). */
const MAX_EDIT_DISTANCE = 4_000;

/**
 * Myers' O((N+M)·D) diff over token lists (E. Myers, "An O(ND) difference algorithm and its variations", 1986), after
 * trimming the common prefix and suffix. Tokens are interned to integers so the inner loop compares numbers.
 */
export function tokenDiff(a: readonly string[], b: readonly string[]): Edit[] {
  let pre = 0;
  while (pre < a.length && pre < b.length && a[pre] === b[pre]) pre++;
  let suf = 0;
  while (suf < a.length - pre && suf < b.length - pre && a[a.length - 1 - suf] === b[b.length - 1 - suf]) suf++;
  const out: Edit[] = [];
  const push = (op: -1 | 0 | 1, text: string) => {
    if (text.length === 0) return;
    const last = out[out.length - 1];
    if (last && last[0] === op) last[1] += text;
    else out.push([op, text]);
  };
  push(0, a.slice(0, pre).join(''));
  const midA = a.slice(pre, a.length - suf);
  const midB = b.slice(pre, b.length - suf);
  for (const [op, text] of myersMiddle(midA, midB)) push(op, text);
  push(0, a.slice(a.length - suf).join(''));
  return out;
}

function myersMiddle(a: readonly string[], b: readonly string[]): Edit[] {
  const n = a.length;
  const m = b.length;
  if (n === 0 && m === 0) return [];
  if (n === 0) return [[1, b.join('')]];
  if (m === 0) return [[-1, a.join('')]];
  const ids = new Map<string, number>();
  const intern = (t: string) => {
    let id = ids.get(t);
    if (id === undefined) ids.set(t, (id = ids.size));
    return id;
  };
  const A = Int32Array.from(a, intern);
  const B = Int32Array.from(b, intern);
  const max = Math.min(n + m, MAX_EDIT_DISTANCE);
  const offset = max + 1;
  let v = new Int32Array(2 * max + 3);
  const trace: Int32Array[] = [];
  let found = -1;
  for (let d = 0; d <= max && found < 0; d++) {
    // only diagonals −d … d matter at step d: keep that window (index k + d of the copy is diagonal k)
    trace.push(v.slice(offset - d, offset + d + 1));
    const next = v;
    for (let k = -d; k <= d; k += 2) {
      let x = k === -d || (k !== d && v[offset + k - 1] < v[offset + k + 1]) ? v[offset + k + 1] : v[offset + k - 1] + 1;
      let y = x - k;
      while (x < n && y < m && A[x] === B[y]) {
        x++;
        y++;
      }
      next[offset + k] = x;
      if (x >= n && y >= m) {
        found = d;
        break;
      }
    }
    v = next;
  }
  if (found < 0) return [[-1, a.join('')], [1, b.join('')]];
  // Walk the trace backwards from (n, m) to (0, 0), collecting edits in reverse.
  const rev: Array<[-1 | 0 | 1, number]> = []; // [op, token index in a (delete/keep) or b (insert)]
  let x = n;
  let y = m;
  for (let d = found; d > 0; d--) {
    // trace[d] holds v as it was before step d (diagonals −d … d, at index k + d)
    const vd = trace[d];
    const at = (kk: number) => vd[kk + d];
    const k = x - y;
    const down = k === -d || (k !== d && at(k - 1) < at(k + 1));
    const prevK = down ? k + 1 : k - 1;
    const prevX = at(prevK);
    const prevY = prevX - prevK;
    while (x > prevX && y > prevY) {
      x--;
      y--;
      rev.push([0, x]);
    }
    if (down) rev.push([1, --y]);
    else rev.push([-1, --x]);
  }
  while (x > 0 && y > 0) {
    y--;
    rev.push([0, --x]);
  }
  const out: Edit[] = [];
  for (let i = rev.length - 1; i >= 0; i--) {
    const [op, idx] = rev[i];
    const text = op === 1 ? b[idx] : a[idx];
    const last = out[out.length - 1];
    if (last && last[0] === op) last[1] += text;
    else out.push([op, text]);
  }
  return out;
}

const COPY = 0;
const SKIP = 1;
const ADD = 2;
const ADD16 = 3;

/** True when `s` holds a surrogate that is not half of a pair (a char diff can cut a pair in two). */
function hasLoneSurrogate(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0xd800 || c > 0xdfff) continue;
    if (c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        i++;
        continue;
      }
    }
    return true;
  }
  return false;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** Growable byte buffer with unsigned LEB128 varints. */
class Bytes {
  buf = new Uint8Array(64);
  len = 0;
  private room(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.len + n) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }
  varint(x: number): void {
    this.room(8);
    while (x >= 0x80) {
      this.buf[this.len++] = (x % 0x80) | 0x80;
      x = Math.floor(x / 0x80);
    }
    this.buf[this.len++] = x;
  }
  bytes(b: Uint8Array): void {
    this.room(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }
  done(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}

function readVarint(buf: Uint8Array, at: { i: number }): number {
  let x = 0;
  let mul = 1;
  for (;;) {
    if (at.i >= buf.length) throw new RangeError('delta: truncated varint');
    const byte = buf[at.i++];
    x += (byte & 0x7f) * mul;
    if (byte < 0x80) return x;
    mul *= 0x80;
  }
}

/** The bytes of a diff: lengths, then COPY / SKIP / ADD instructions (see the file comment). */
export function encodeDelta(diff: readonly Edit[]): Uint8Array {
  let oldLen = 0;
  let newLen = 0;
  for (const [op, text] of diff) {
    if (op <= 0) oldLen += text.length;
    if (op >= 0) newLen += text.length;
  }
  const out = new Bytes();
  out.varint(oldLen);
  out.varint(newLen);
  for (const [op, text] of diff) {
    if (text.length === 0) continue;
    if (op === 0) out.varint(text.length * 4 + COPY);
    else if (op === -1) out.varint(text.length * 4 + SKIP);
    else if (hasLoneSurrogate(text)) {
      // UTF-8 cannot carry half a surrogate pair: these bytes are raw UTF-16 code units (little-endian)
      out.varint(text.length * 4 + ADD16);
      const units = new Uint8Array(text.length * 2);
      for (let i = 0; i < text.length; i++) {
        const c = text.charCodeAt(i);
        units[2 * i] = c & 0xff;
        units[2 * i + 1] = c >> 8;
      }
      out.bytes(units);
    } else {
      const utf8 = encoder.encode(text);
      out.varint(utf8.length * 4 + ADD);
      out.bytes(utf8);
    }
  }
  return out.done();
}

/** The delta that turns `a` into `b`, computed with `diff`. */
export function makeDelta(a: string, b: string, diff: DiffFn): Uint8Array {
  return encodeDelta(diff(a, b));
}

/** Rebuilds the new text from the old one and a delta made by `encodeDelta`. */
export function applyDelta(old: string, delta: Uint8Array): string {
  const at = { i: 0 };
  const oldLen = readVarint(delta, at);
  const newLen = readVarint(delta, at);
  if (oldLen !== old.length) throw new RangeError(`delta: made for a text of ${oldLen} code units, applied to one of ${old.length}`);
  const parts: string[] = [];
  let cursor = 0;
  while (at.i < delta.length) {
    const head = readVarint(delta, at);
    const code = head % 4;
    const n = Math.floor(head / 4);
    if (code === COPY) {
      if (cursor + n > old.length) throw new RangeError('delta: COPY past the end of the old text');
      parts.push(old.slice(cursor, cursor + n));
      cursor += n;
    } else if (code === SKIP) {
      if (cursor + n > old.length) throw new RangeError('delta: SKIP past the end of the old text');
      cursor += n;
    } else if (code === ADD) {
      if (at.i + n > delta.length) throw new RangeError('delta: ADD past the end of the delta');
      parts.push(decoder.decode(delta.subarray(at.i, at.i + n)));
      at.i += n;
    } else if (code === ADD16) {
      if (at.i + 2 * n > delta.length) throw new RangeError('delta: ADD past the end of the delta');
      let s = '';
      for (let j = 0; j < n; j++) s += String.fromCharCode(delta[at.i + 2 * j] | (delta[at.i + 2 * j + 1] << 8));
      parts.push(s);
      at.i += 2 * n;
    } else throw new RangeError(`delta: unknown instruction ${code}`);
  }
  const out = parts.join('');
  if (cursor !== old.length || out.length !== newLen) {
    throw new RangeError(`delta: rebuilt ${out.length} code units (expected ${newLen}) from ${cursor} of ${old.length}`);
  }
  return out;
}
