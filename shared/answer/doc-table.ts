import type { Metadata } from '../types.ts';

/**
 * The engine's documents: id, metadata and chunk labels, in typed arrays. A document's chunks usually have consecutive
 * labels (an ingest hands them out so), so a document is its first label and its chunk count. A document replaced
 * incrementally (the engine keeps the labels of its unchanged chunks and gives new ones to the rest) holds several runs
 * of labels instead, kept beside the arrays (`runs`); its first label and count are then those of all its runs. Its id
 * is UTF-8 bytes in one growing buffer, found through an open-addressing hash table (FNV-1a of the id, linear
 * probing); its metadata an index into a list of distinct metadata objects (a corpus has few: generated documents carry
 * one of 30). Per label, the document's slot. About 45 bytes a document and 4 a label, where a Map of id → objects took about 150 a document
 * (shared/index/README.md, "Memory at 1M chunks").
 */
export class DocTable {
  private n = 0;
  private live = 0;
  private idBytes = new Uint8Array(1 << 12);
  private idEnd = 0;
  /** Bytes of ids of removed documents still in idBytes (rewritten away once they pass half). */
  private garbage = 0;
  private idOff = new Float64Array(64);
  private idLen = new Uint32Array(64);
  private firsts = new Int32Array(64);
  private counts = new Int32Array(64);
  /** Metadata index per slot; -1 for a free slot. */
  private metaOf = new Int32Array(64);
  private readonly metas: Metadata[] = [];
  private readonly metaIndex = new Map<string, number>();
  /** Slot + 1 per hash slot; 0 empty, -1 a removed entry (probing goes on past it). */
  private table = new Int32Array(128);
  private used = 0;
  private free: number[] = [];
  /** Slot + 1 of each label's document; 0: none. */
  private docOf = new Int32Array(1024);
  /**
   * Documents whose labels are not one range: slot → runs [first, count, first, count, …], labels ascending. Only
   * documents replaced incrementally are here (one Map entry each); every other one is its first label and count.
   */
  private readonly scattered = new Map<number, Int32Array>();

  /** Documents held. */
  get size(): number {
    return this.live;
  }

  /** The slot of document `id`, or -1. */
  slot(id: string): number {
    const mask = this.table.length - 1;
    for (let h = fnv1a(id) & mask; ; h = (h + 1) & mask) {
      const e = this.table[h];
      if (e === 0) return -1;
      if (e > 0 && this.idIs(e - 1, id)) return e - 1;
    }
  }

  has(id: string): boolean {
    return this.slot(id) >= 0;
  }

  id(slot: number): string {
    return Buffer.from(this.idBytes.buffer, this.idBytes.byteOffset + this.idOff[slot], this.idLen[slot]).toString('utf8');
  }

  first(slot: number): number {
    return this.firsts[slot];
  }

  /** Chunks of the document (in all its runs). */
  count(slot: number): number {
    return this.counts[slot];
  }

  /**
   * The document's labels as runs [first, count, first, count, …], ascending: one run for a document whose chunks have
   * consecutive labels (none for one without chunks), several for one replaced incrementally. Do not modify it.
   */
  runs(slot: number): Int32Array {
    const r = this.scattered.get(slot);
    if (r !== undefined) return r;
    return this.counts[slot] > 0 ? Int32Array.of(this.firsts[slot], this.counts[slot]) : new Int32Array(0);
  }

  /** The document's labels, ascending. */
  labels(slot: number): Int32Array {
    const runs = this.runs(slot);
    const out = new Int32Array(this.counts[slot]);
    let k = 0;
    for (let r = 0; r < runs.length; r += 2) for (let l = runs[r]; l < runs[r] + runs[r + 1]; l++) out[k++] = l;
    return out;
  }

  metadata(slot: number): Metadata {
    return this.metas[this.metaOf[slot]];
  }

  /** The slot of the document holding `label`, or -1. */
  slotOfLabel(label: number): number {
    return label < this.docOf.length ? this.docOf[label] - 1 : -1;
  }

  /** What a metadata filter reads of a chunk: its document id and metadata (a fresh object each call). */
  view(label: number): { docId: string; metadata: Metadata } | undefined {
    const s = this.slotOfLabel(label);
    return s < 0 ? undefined : new DocView(this, s);
  }

  /**
   * Adds a document (its id must not be present) whose chunks are labels first … first + count − 1. Metadata is
   * kept by value: documents with equal metadata (same keys in the same order, same values) share one object.
   */
  add(id: string, metadata: Metadata, first: number, count: number): number {
    return this.place(id, metadata, count > 0 ? Int32Array.of(first, count) : new Int32Array(0), first);
  }

  /**
   * Adds a document (its id must not be present) whose chunks are `labels` (distinct, in any order). Labels that follow
   * one another are kept as one run: a document whose labels are one range costs what `add` costs.
   */
  addLabels(id: string, metadata: Metadata, labels: ArrayLike<number>): number {
    const sorted = Int32Array.from(labels).sort();
    const runs: number[] = [];
    for (let i = 0; i < sorted.length; i++) {
      if (i > 0 && sorted[i] === sorted[i - 1]) throw new RangeError(`DocTable.addLabels(${id}): label ${sorted[i]} given twice`);
      if (runs.length > 0 && sorted[i] === runs[runs.length - 2] + runs[runs.length - 1]) runs[runs.length - 1]++;
      else runs.push(sorted[i], 1);
    }
    return this.place(id, metadata, Int32Array.from(runs), 0);
  }

  /** Adds a document from its runs [first, count, …] (ascending, not touching); `runs` must not be modified after. */
  addRuns(id: string, metadata: Metadata, runs: Int32Array): number {
    if (runs.length % 2 !== 0 || (runs.length > 0 && runs[0] < 0)) throw new RangeError(`DocTable.addRuns(${id}): runs are [first, count] pairs`);
    for (let r = 0; r < runs.length; r += 2) {
      if (!(runs[r + 1] > 0) || (r > 0 && runs[r] <= runs[r - 2] + runs[r - 1])) {
        throw new RangeError(`DocTable.addRuns(${id}): runs must be ascending, not touching, each of at least one label`);
      }
    }
    return this.place(id, metadata, runs, 0);
  }

  private place(id: string, metadata: Metadata, runs: Int32Array, emptyFirst: number): number {
    const slot = this.free.length > 0 ? this.free.pop()! : this.n++;
    if (slot >= this.firsts.length) this.growSlots(slot + 1);
    const bytes = Buffer.from(id, 'utf8');
    if (this.idEnd + bytes.length > this.idBytes.length) this.growIds(bytes.length);
    this.idBytes.set(bytes, this.idEnd);
    this.idOff[slot] = this.idEnd;
    this.idLen[slot] = bytes.length;
    this.idEnd += bytes.length;
    let count = 0;
    for (let r = 1; r < runs.length; r += 2) count += runs[r];
    this.firsts[slot] = runs.length > 0 ? runs[0] : emptyFirst;
    this.counts[slot] = count;
    this.metaOf[slot] = this.intern(metadata);
    if (runs.length > 2) this.scattered.set(slot, runs);
    if (2 * (this.used + 1) > this.table.length) {
      let size = 128;
      while (size < 4 * (this.live + 1)) size *= 2;
      this.rehash(size);
    }
    const mask = this.table.length - 1;
    let h = fnv1a(id) & mask;
    while (this.table[h] > 0) h = (h + 1) & mask;
    if (this.table[h] === 0) this.used++;
    this.table[h] = slot + 1;
    this.live++;
    if (runs.length > 0) {
      const end = runs[runs.length - 2] + runs[runs.length - 1];
      if (end > this.docOf.length) {
        const grown = new Int32Array(Math.max(end, this.docOf.length < 1 << 20 ? this.docOf.length * 2 : this.docOf.length + (this.docOf.length >> 3)));
        grown.set(this.docOf);
        this.docOf = grown;
      }
      for (let r = 0; r < runs.length; r += 2) this.docOf.fill(slot + 1, runs[r], runs[r] + runs[r + 1]);
    }
    return slot;
  }

  /**
   * Removes document `id`; returns its slot's first label and count (of all its runs: see `runs`, read before), or
   * undefined when it was not present.
   */
  delete(id: string): { first: number; count: number } | undefined {
    const mask = this.table.length - 1;
    for (let h = fnv1a(id) & mask; ; h = (h + 1) & mask) {
      const e = this.table[h];
      if (e === 0) return undefined;
      if (e > 0 && this.idIs(e - 1, id)) {
        const slot = e - 1;
        this.table[h] = -1;
        const first = this.firsts[slot];
        const count = this.counts[slot];
        const runs = this.scattered.get(slot);
        if (runs !== undefined) {
          for (let r = 0; r < runs.length; r += 2) this.docOf.fill(0, runs[r], runs[r] + runs[r + 1]);
          this.scattered.delete(slot);
        } else if (count > 0) this.docOf.fill(0, first, first + count);
        this.garbage += this.idLen[slot];
        this.metaOf[slot] = -1;
        this.free.push(slot);
        this.live--;
        if (this.garbage > 1 << 16 && this.garbage > this.idEnd / 2) this.compactIds();
        return { first, count };
      }
    }
  }

  /** Slots of the documents held, in no particular order. */
  *slots(): Generator<number> {
    for (let s = 0; s < this.n; s++) if (this.metaOf[s] >= 0) yield s;
  }

  /** Distinct metadata objects and each slot's index into them (for saving). */
  metadataList(): { metas: Metadata[]; indexOf: (slot: number) => number } {
    return { metas: this.metas, indexOf: (slot) => this.metaOf[slot] };
  }

  memory(): { part: string; bytes: number; how: string }[] {
    const perSlot = this.idOff.byteLength + this.idLen.byteLength + this.firsts.byteLength + this.counts.byteLength + this.metaOf.byteLength;
    let runBytes = 0;
    for (const r of this.scattered.values()) runBytes += r.byteLength;
    return [
      {
        part: 'documents',
        bytes: this.idBytes.byteLength + perSlot + this.table.byteLength,
        how: `${this.live} documents: ids as UTF-8 bytes, first label, count, metadata index; ${this.table.length}-slot hash table; ${this.metas.length} distinct metadata objects`,
      },
      { part: 'label → document', bytes: this.docOf.byteLength, how: 'int32 per label' },
      { part: 'label runs', bytes: runBytes, how: `${this.scattered.size} documents replaced incrementally: int32 first + count per run of labels` },
    ];
  }

  private idIs(slot: number, id: string): boolean {
    const len = this.idLen[slot];
    const off = this.idOff[slot];
    const b = this.idBytes;
    let ascii = true;
    for (let i = 0; i < id.length; i++) {
      if (id.charCodeAt(i) > 127) {
        ascii = false;
        break;
      }
    }
    if (ascii) {
      if (len !== id.length) return false;
      for (let i = 0; i < len; i++) if (b[off + i] !== id.charCodeAt(i)) return false;
      return true;
    }
    return this.id(slot) === id;
  }

  private intern(metadata: Metadata): number {
    const key = JSON.stringify(metadata);
    let i = this.metaIndex.get(key);
    if (i === undefined) {
      i = this.metas.length;
      this.metas.push(metadata);
      this.metaIndex.set(key, i);
    }
    return i;
  }

  private growSlots(need: number): void {
    const cap = Math.max(need, this.firsts.length < 1 << 20 ? this.firsts.length * 2 : this.firsts.length + (this.firsts.length >> 3));
    const g = <T extends Float64Array | Uint32Array | Int32Array>(a: T): T => {
      const b = new (a.constructor as new (n: number) => T)(cap);
      b.set(a);
      return b;
    };
    this.idOff = g(this.idOff);
    this.idLen = g(this.idLen);
    this.firsts = g(this.firsts);
    this.counts = g(this.counts);
    const metaOf = new Int32Array(cap).fill(-1);
    metaOf.set(this.metaOf);
    this.metaOf = metaOf;
  }

  private growIds(extra: number): void {
    const len = this.idBytes.length;
    const b = new Uint8Array(Math.max(this.idEnd + extra, len < 1 << 24 ? len * 2 : len + (len >> 3)));
    b.set(this.idBytes.subarray(0, this.idEnd));
    this.idBytes = b;
  }

  /** Rewrites the id bytes without those of removed documents. */
  private compactIds(): void {
    const b = new Uint8Array(Math.max(1 << 12, this.idEnd - this.garbage + (this.idEnd >> 3)));
    let at = 0;
    for (let s = 0; s < this.n; s++) {
      if (this.metaOf[s] < 0) continue;
      const off = this.idOff[s];
      const len = this.idLen[s];
      b.set(this.idBytes.subarray(off, off + len), at);
      this.idOff[s] = at;
      at += len;
    }
    this.idBytes = b;
    this.idEnd = at;
    this.garbage = 0;
  }

  private rehash(size: number): void {
    const table = new Int32Array(size);
    const mask = size - 1;
    let used = 0;
    for (let s = 0; s < this.n; s++) {
      if (this.metaOf[s] < 0) continue;
      let h = fnv1a(this.id(s)) & mask;
      while (table[h] !== 0) h = (h + 1) & mask;
      table[h] = s + 1;
      used++;
    }
    this.table = table;
    this.used = used;
  }
}

/** A chunk as a metadata filter sees it: the document id (decoded on demand) and the metadata. */
class DocView {
  constructor(
    private readonly docs: DocTable,
    private readonly slotIndex: number,
  ) {}
  get docId(): string {
    return this.docs.id(this.slotIndex);
  }
  get metadata(): Metadata {
    return this.docs.metadata(this.slotIndex);
  }
}

/** FNV-1a over a string's UTF-16 code units. */
function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
