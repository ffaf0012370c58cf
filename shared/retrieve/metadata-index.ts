import type { Chunk, MetaValue } from '../types.ts';
import type { MetadataFilter } from './filter.ts';

/**
 * Metadata filters answered from postings instead of by testing every chunk.
 *
 * One posting per (field, value) a chunk carries, plus one per document id (the filter key `docId`): a sorted,
 * growable Int32Array of labels. Labels are appended as chunks are committed (the engine hands them out in increasing
 * order, so the lists stay sorted without sorting); a removed chunk's label stays in its lists as a dead entry that
 * `match` skips (`chunkOf` no longer returns its chunk) and is dropped when dead entries pass half of a list.
 *
 * `match(filter)` follows `compileFilter` exactly (every key must match, a value matches by SameValueZero equality,
 * an array matches any of its values, `docId` tests the document id, and only a chunk's own metadata counts):
 *
 *   1. for each key, the postings of its distinct values (a few Map lookups). A key with no posting: no chunk can
 *      match, the answer is empty and no chunk was looked at;
 *   2. the key whose postings hold the fewest labels drives: its labels (for one field a chunk holds one value, so
 *      the postings of different values are disjoint) are the candidates;
 *   3. each candidate is tested against the other keys with the compiled predicate, so the work is bounded by the
 *      smallest key's postings, never by the number of chunks.
 */
export interface FilterMatch {
  /** Matching live labels, ascending. */
  labels: Int32Array;
  /** Labels looked at (candidates of the driving key, dead ones included): the cost of the match. */
  examined: number;
}

interface Posting {
  labels: Int32Array;
  n: number;
  /** Entries whose label was removed (still in `labels`). */
  dead: number;
  /** A label was appended below the last one (restored out of order): sort before the next read. */
  unsorted: boolean;
}

const DOC_FIELD = '\u0000docId';

/** The posting key of a metadata value: its type and its text, so 1, '1' and true stay apart (as in a Set). */
export function valueKey(v: MetaValue): string {
  return `${typeof v === 'string' ? 's' : typeof v === 'number' ? 'n' : 'b'}${String(v)}`;
}

export class MetadataIndex {
  /** field → value key → posting (`docId` under DOC_FIELD, which no metadata key can equal). */
  private readonly fields = new Map<string, Map<string, Posting>>();
  /** Labels examined by all `match` calls so far (for tests and metrics). */
  examinedTotal = 0;

  /**
   * @param chunkOf the chunk stored under a label, undefined once it was removed (or before it was committed):
   *   such labels are skipped by `match` and dropped from their lists by `remove`.
   */
  constructor(private readonly chunkOf: (label: number) => Chunk | undefined) {}

  /** Indexes a committed chunk under `label`. */
  add(label: number, chunk: Chunk): void {
    this.append(DOC_FIELD, `s${chunk.docId}`, label);
    for (const field of Object.keys(chunk.metadata)) this.append(field, valueKey(chunk.metadata[field]), label);
  }

  /**
   * Notes that a label holding `chunk` was removed: call it once `chunkOf` no longer returns it. Its entries stay
   * until a list is more than half dead, then that list is rewritten without them.
   */
  remove(chunk: Chunk): void {
    this.release(DOC_FIELD, `s${chunk.docId}`);
    for (const field of Object.keys(chunk.metadata)) this.release(field, valueKey(chunk.metadata[field]));
  }

  /** Distinct (field, value) postings held, `docId` included. */
  get postings(): number {
    let n = 0;
    for (const values of this.fields.values()) n += values.size;
    return n;
  }

  /** True when a key of the filter has no posting for any of its values: nothing can match (a few Map lookups). */
  cannotMatch(filter: MetadataFilter): boolean {
    for (const key of Object.keys(filter)) if (this.postingsOf(key, filter[key]).length === 0) return true;
    return false;
  }

  /** The live labels a filter matches, ascending (see the class comment for how). */
  match(filter: MetadataFilter, test: (chunk: Chunk) => boolean): FilterMatch {
    const chunkOf = this.chunkOf;
    const keys = Object.keys(filter);
    let driver: Posting[] | undefined;
    let driverSize = Infinity;
    for (const key of keys) {
      const postings = this.postingsOf(key, filter[key]);
      let size = 0;
      for (const p of postings) size += p.n;
      if (size === 0) return { labels: new Int32Array(0), examined: 0 };
      if (size < driverSize) {
        driver = postings;
        driverSize = size;
      }
    }
    if (driver === undefined) return { labels: new Int32Array(0), examined: 0 };
    const out = new Int32Array(driverSize);
    let m = 0;
    const single = keys.length === 1;
    for (const p of driver) {
      if (p.unsorted) sortPosting(p);
      const ls = p.labels;
      for (let i = 0; i < p.n; i++) {
        const l = ls[i];
        const c = chunkOf(l);
        if (c === undefined) continue;
        if (single || test(c)) out[m++] = l;
      }
    }
    this.examinedTotal += driverSize;
    const labels = out.subarray(0, m);
    // postings of different values of one field are disjoint: several lists only need merging into one order
    if (driver.length > 1) labels.sort();
    return { labels, examined: driverSize };
  }

  /** The postings of a filter key's distinct values that exist (values of a type a field never holds find none). */
  private postingsOf(key: string, value: MetaValue | MetaValue[]): Posting[] {
    const values = Array.isArray(value) ? value : [value];
    const field = key === 'docId' ? DOC_FIELD : key;
    const byValue = this.fields.get(field);
    if (byValue === undefined) return [];
    const seen = new Set<string>();
    const out: Posting[] = [];
    for (const v of values) {
      // a document id is a string: `docId: 5` matches no document, as in compileFilter
      if (key === 'docId' && typeof v !== 'string') continue;
      const vk = valueKey(v);
      if (seen.has(vk)) continue;
      seen.add(vk);
      const p = byValue.get(vk);
      if (p !== undefined && p.n > p.dead) out.push(p);
    }
    return out;
  }

  private append(field: string, vk: string, label: number): void {
    let byValue = this.fields.get(field);
    if (byValue === undefined) this.fields.set(field, (byValue = new Map()));
    let p = byValue.get(vk);
    if (p === undefined) byValue.set(vk, (p = { labels: new Int32Array(4), n: 0, dead: 0, unsorted: false }));
    if (p.n === p.labels.length) {
      const grown = new Int32Array(p.labels.length * 2);
      grown.set(p.labels);
      p.labels = grown;
    }
    if (p.n > 0 && p.labels[p.n - 1] > label) p.unsorted = true;
    p.labels[p.n++] = label;
  }

  private release(field: string, vk: string): void {
    const byValue = this.fields.get(field);
    const p = byValue?.get(vk);
    if (byValue === undefined || p === undefined) return;
    p.dead++;
    if (p.dead * 2 <= p.n) return;
    let m = 0;
    for (let i = 0; i < p.n; i++) if (this.chunkOf(p.labels[i]) !== undefined) p.labels[m++] = p.labels[i];
    if (m === 0) {
      byValue.delete(vk);
      if (byValue.size === 0) this.fields.delete(field);
      return;
    }
    p.n = m;
    p.dead = 0;
    if (p.labels.length > 4 * Math.max(4, m)) p.labels = p.labels.slice(0, Math.max(4, m * 2));
  }
}

function sortPosting(p: Posting): void {
  p.labels.subarray(0, p.n).sort();
  p.unsorted = false;
}
