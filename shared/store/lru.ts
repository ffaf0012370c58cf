import { RagError } from '../errors.ts';

/**
 * A least-recently-used map bounded in bytes, not entries: every entry has a cost (its bytes, given on `set`), and
 * the map never holds more than `maxBytes` of cost. It counts what it holds itself (`bytes`, and `peakBytes`, the
 * most it ever held), evicting the least recently used entries *before* it inserts, so the bound holds at every
 * moment, not just between calls.
 *
 * Recency lives in the insertion order of one `Map` (a hit deletes and re-inserts its key; the oldest key is the
 * first one iterated): O(1) per operation and no list nodes of its own. An entry costing more than `maxBytes` is not
 * stored at all.
 *
 * Memory: the values themselves (whose cost the caller states) plus about 50 bytes a Map entry for key, value and
 * cost; `textCost` includes that.
 */
export class ByteLru<K, V> {
  readonly maxBytes: number;
  private readonly entries = new Map<K, { value: V; cost: number }>();
  private held = 0;
  private peak = 0;
  /** Entries evicted to make room, since creation. */
  evictions = 0;

  constructor(maxBytes: number) {
    if (!(Number.isFinite(maxBytes) && maxBytes >= 0)) throw new RagError('INVALID_INPUT', `ByteLru: maxBytes must be a finite number ≥ 0, got ${maxBytes}`);
    this.maxBytes = maxBytes;
  }

  /** Cost of the entries held now. */
  get bytes(): number {
    return this.held;
  }

  /** The most cost ever held at once. */
  get peakBytes(): number {
    return this.peak;
  }

  get size(): number {
    return this.entries.size;
  }

  has(key: K): boolean {
    return this.entries.has(key);
  }

  /** The value, marked most recently used; undefined when absent. */
  get(key: K): V | undefined {
    const e = this.entries.get(key);
    if (e === undefined) return undefined;
    this.entries.delete(key);
    this.entries.set(key, e);
    return e.value;
  }

  /** The value without touching its recency. */
  peek(key: K): V | undefined {
    return this.entries.get(key)?.value;
  }

  /**
   * Stores `value` at `cost` bytes as the most recently used entry, evicting the least recently used ones first until
   * it fits. Returns false (and stores nothing) when `cost` alone exceeds `maxBytes`.
   */
  set(key: K, value: V, cost: number): boolean {
    if (!(Number.isFinite(cost) && cost >= 0)) throw new RagError('INVALID_INPUT', `ByteLru.set: cost must be a finite number ≥ 0, got ${cost}`);
    this.delete(key);
    if (cost > this.maxBytes) return false;
    for (const [k, e] of this.entries) {
      if (this.held + cost <= this.maxBytes) break;
      this.entries.delete(k);
      this.held -= e.cost;
      this.evictions++;
    }
    this.entries.set(key, { value, cost });
    this.held += cost;
    if (this.held > this.peak) this.peak = this.held;
    return true;
  }

  delete(key: K): boolean {
    const e = this.entries.get(key);
    if (e === undefined) return false;
    this.entries.delete(key);
    this.held -= e.cost;
    return true;
  }

  clear(): void {
    this.entries.clear();
    this.held = 0;
  }
}

/** Per-entry bookkeeping a text costs besides its characters: Map entry, record, string header. */
export const ENTRY_OVERHEAD = 64;

/**
 * What a string costs in V8's heap, plus `ENTRY_OVERHEAD`: one byte a character when every character fits in Latin-1
 * (V8 stores such strings one byte wide), two otherwise.
 */
export function textCost(text: string): number {
  // eslint-disable-next-line no-control-regex
  return ENTRY_OVERHEAD + (/[^\u0000-\u00ff]/.test(text) ? 2 * text.length : text.length);
}
