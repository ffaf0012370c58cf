/**
 * The bytes a structure keeps reachable, counted by walking it: a deterministic stand-in for its retained heap size
 * that needs no heap snapshot and no GC, so a checkpoint can bound it exactly (lessons t2/06 and t2/07).
 *
 * The model, close to V8's on 64-bit with pointer compression off:
 *
 *     object / class instance   16 + 8 per own property, then each value
 *     array                     16 + 8 per slot, then each element
 *     Map / Set                 32 + 24 per entry, then keys and values
 *     string                    16 + 1 byte per char (2 if any char is above U+00FF), each time one is referenced
 *     typed array, DataView     64 for the view + the bytes it covers of its ArrayBuffer, each byte counted once
 *                               however many views share it (a Buffer cut from Node's 8 kB pool counts its own bytes)
 *     number, boolean, …        0 (stored inline in the slot already counted)
 *     function                  16, not walked (its closure is invisible from outside)
 *
 * Objects reached twice count once: two versions sharing one chunk object pay for it once, two copies pay twice.
 * `exclude` stops the walk at objects that are not the structure's own (a shared embedder, a backend counted apart).
 */

export interface SizeofOptions {
  /** Objects not to count nor walk into. */
  exclude?: readonly unknown[];
}

export function reachableBytes(root: unknown, opts: SizeofOptions = {}): number {
  const seen = new Set<object>(opts.exclude?.filter((x): x is object => typeof x === 'object' && x !== null) ?? []);
  /** Per ArrayBuffer, the byte ranges [start, end) already counted. */
  const buffers = new Map<ArrayBufferLike, Array<[number, number]>>();
  let total = 0;
  const stack: unknown[] = [root];

  const countRange = (buf: ArrayBufferLike, start: number, end: number): number => {
    let ranges = buffers.get(buf);
    if (!ranges) buffers.set(buf, (ranges = []));
    // bytes of [start, end) not covered by a range counted before
    let fresh = end - start;
    for (const [a, b] of ranges) fresh -= Math.max(0, Math.min(end, b) - Math.max(start, a));
    ranges.push([start, end]);
    return Math.max(0, fresh);
  };

  while (stack.length > 0) {
    const x = stack.pop();
    if (typeof x === 'string') {
      total += 16 + (/[^\u0000-\u00ff]/.test(x) ? 2 * x.length : x.length);
      continue;
    }
    if (typeof x === 'function') {
      if (!seen.has(x)) {
        seen.add(x);
        total += 16;
      }
      continue;
    }
    if (typeof x !== 'object' || x === null) continue;
    if (seen.has(x)) continue;
    seen.add(x);
    if (ArrayBuffer.isView(x)) {
      total += 64 + countRange(x.buffer, x.byteOffset, x.byteOffset + x.byteLength);
      continue;
    }
    if (x instanceof ArrayBuffer || (typeof SharedArrayBuffer !== 'undefined' && x instanceof SharedArrayBuffer)) {
      total += 32 + countRange(x, 0, x.byteLength);
      continue;
    }
    if (Array.isArray(x)) {
      total += 16 + 8 * x.length;
      for (const v of x) stack.push(v);
      continue;
    }
    if (x instanceof Map) {
      total += 32 + 24 * x.size;
      for (const [k, v] of x) stack.push(k, v);
      continue;
    }
    if (x instanceof Set) {
      total += 32 + 24 * x.size;
      for (const v of x) stack.push(v);
      continue;
    }
    const keys = Object.keys(x);
    total += 16 + 8 * keys.length;
    for (const key of keys) stack.push((x as Record<string, unknown>)[key]);
  }
  return total;
}
