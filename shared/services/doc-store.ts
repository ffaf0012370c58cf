/**
 * The document store a results page reads from: documents (title, metadata) and their chunk previews, listed in one
 * stable order (by id), with every call counted as one **store look-up** (one round trip to wherever the documents
 * live: a database, another service). An API layer (results-api.ts) pages through it and fetches each hit's fields;
 * what the page costs is the look-ups it makes, which `stats` counts.
 *
 *     const store = MemoryDocStore.fromDocs(docs, { latencyMs: 1 });
 *     await store.list({ first: 20, afterId: 'brown/ca07' });     // one look-up
 *     await store.getDocuments(['brown/ca08', 'brown/ca09']);      // one look-up, however many ids
 *     store.stats;                                                 // { lookups: 2, keys: 2, byKind: {...} }
 *
 * `MemoryDocStore` keeps everything in memory (ids in a sorted array, so a listing from a key is a binary search);
 * `latencyMs` makes each look-up take that long (a timer), as a store one network hop away would.
 */
import { chunkDocument } from '../corpus/chunk.ts';
import { RagError } from '../errors.ts';
import type { Doc, Metadata } from '../types.ts';

/** What a results row shows of a document. */
export interface DocSummary {
  id: string;
  title: string;
  metadata: Metadata;
  /** Chunks the document has. */
  chunkCount: number;
}

/** The start of one chunk of a document. */
export interface ChunkPreview {
  position: number;
  text: string;
}

export interface ListOptions {
  /** Most ids to return. */
  first: number;
  /** Keyset: only ids after this one (in id order). */
  afterId?: string;
  /** Offset: skip this many ids first. */
  offset?: number;
  /** Only documents whose metadata `genre` is this. */
  genre?: string;
}

export type LookupKind = 'list' | 'documents' | 'chunks';

export interface StoreStats {
  /** Look-ups (calls) made. */
  lookups: number;
  /** Ids asked for by `getDocuments` and `getChunks`, summed. */
  keys: number;
  byKind: Record<LookupKind, number>;
}

export interface DocStore {
  /** Ids in id order, from `afterId` (exclusive) or `offset`, at most `first` of them, and whether more follow. One look-up. */
  list(opts: ListOptions): Promise<{ ids: string[]; more: boolean }>;
  /** The documents, in the order asked (undefined for an unknown id). One look-up, whatever the number of ids. */
  getDocuments(ids: readonly string[]): Promise<(DocSummary | undefined)[]>;
  /** Each document's chunk previews, in the order asked ([] for an unknown id). One look-up. */
  getChunks(ids: readonly string[], perDoc?: number): Promise<ChunkPreview[][]>;
  readonly stats: StoreStats;
}

interface Stored {
  summary: DocSummary;
  chunks: ChunkPreview[];
}

export interface MemoryDocStoreOptions {
  /** Each look-up takes this long (a timer). Default 0: answered on the next turn of the event loop. */
  latencyMs?: number;
  /** Characters of each chunk a preview keeps. Default 160. */
  previewChars?: number;
}

/** First index in sorted `ids` whose id is greater than `key` (binary search). */
function upperBound(ids: readonly string[], key: string): number {
  let lo = 0;
  let hi = ids.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (ids[mid] <= key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function lowerBound(ids: readonly string[], key: string): number {
  let lo = 0;
  let hi = ids.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (ids[mid] < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export class MemoryDocStore implements DocStore {
  private readonly ids: string[] = [];
  private readonly docs = new Map<string, Stored>();
  private readonly latencyMs: number;
  private readonly previewChars: number;
  readonly stats: StoreStats = { lookups: 0, keys: 0, byKind: { list: 0, documents: 0, chunks: 0 } };

  constructor(opts: MemoryDocStoreOptions = {}) {
    this.latencyMs = opts.latencyMs ?? 0;
    this.previewChars = opts.previewChars ?? 160;
    if (!(this.latencyMs >= 0)) throw new RagError('INVALID_INPUT', `latencyMs must be >= 0, got ${opts.latencyMs}`);
  }

  /** A store holding `docs`, chunked with the engine's chunker (shared/corpus/chunk.ts). */
  static fromDocs(docs: readonly Doc[], opts: MemoryDocStoreOptions = {}): MemoryDocStore {
    const store = new MemoryDocStore(opts);
    store.put(docs);
    return store;
  }

  get size(): number {
    return this.ids.length;
  }

  /** Every id, in order (not a look-up: for tests and benches). */
  allIds(): string[] {
    return [...this.ids];
  }

  /** Adds or replaces documents (not counted: writes are not what a results page pays for). */
  put(docs: readonly Doc[]): void {
    for (const doc of docs) {
      const chunks = chunkDocument(doc).map((c) => ({ position: c.position, text: c.text.slice(0, this.previewChars) }));
      if (!this.docs.has(doc.id)) this.ids.splice(lowerBound(this.ids, doc.id), 0, doc.id);
      this.docs.set(doc.id, {
        summary: { id: doc.id, title: doc.title ?? doc.id, metadata: { ...doc.metadata }, chunkCount: chunks.length },
        chunks,
      });
    }
  }

  /** Removes documents by id; returns how many existed. */
  remove(ids: readonly string[]): number {
    let n = 0;
    for (const id of ids) {
      if (!this.docs.delete(id)) continue;
      this.ids.splice(lowerBound(this.ids, id), 1);
      n++;
    }
    return n;
  }

  /** Forgets the counts (between measured pages). */
  resetStats(): void {
    this.stats.lookups = 0;
    this.stats.keys = 0;
    this.stats.byKind = { list: 0, documents: 0, chunks: 0 };
  }

  private async lookup(kind: LookupKind, keys: number): Promise<void> {
    this.stats.lookups++;
    this.stats.byKind[kind]++;
    this.stats.keys += keys;
    if (this.latencyMs > 0) await new Promise((resolve) => setTimeout(resolve, this.latencyMs));
    else await new Promise((resolve) => setImmediate(resolve));
  }

  async list(opts: ListOptions): Promise<{ ids: string[]; more: boolean }> {
    if (!Number.isInteger(opts.first) || opts.first < 0) throw new RagError('INVALID_INPUT', `list: first must be a non-negative integer, got ${opts.first}`);
    if (opts.afterId !== undefined && typeof opts.afterId !== 'string') throw new RagError('INVALID_INPUT', 'list: afterId must be a string');
    if (opts.offset !== undefined && !(Number.isInteger(opts.offset) && opts.offset >= 0)) {
      throw new RagError('INVALID_INPUT', `list: offset must be a non-negative integer, got ${opts.offset}`);
    }
    await this.lookup('list', 0);
    let start = opts.afterId !== undefined ? upperBound(this.ids, opts.afterId) : 0;
    const out: string[] = [];
    let skip = opts.offset ?? 0;
    for (; start < this.ids.length; start++) {
      const id = this.ids[start];
      if (opts.genre !== undefined && this.docs.get(id)!.summary.metadata.genre !== opts.genre) continue;
      if (skip > 0) {
        skip--;
        continue;
      }
      if (out.length === opts.first) return { ids: out, more: true };
      out.push(id);
    }
    return { ids: out, more: false };
  }

  async getDocuments(ids: readonly string[]): Promise<(DocSummary | undefined)[]> {
    await this.lookup('documents', ids.length);
    return ids.map((id) => {
      const s = this.docs.get(id)?.summary;
      return s && { ...s, metadata: { ...s.metadata } };
    });
  }

  async getChunks(ids: readonly string[], perDoc = 3): Promise<ChunkPreview[][]> {
    await this.lookup('chunks', ids.length);
    return ids.map((id) => (this.docs.get(id)?.chunks ?? []).slice(0, perDoc).map((c) => ({ ...c })));
  }
}
