/**
 * A version history kept as versioned chunks in one index (the validity table is shared/versions/validity.ts, the
 * document texts go to shared/versions/delta-store.ts):
 *
 * - **One index for every version.** Every chunk that was ever part of a document has one label, one vector and one
 *   stored chunk, however many versions it lives through. A label has validity rows `[from, to)`: the versions in
 *   which it is part of the index.
 * - **A write changes rows, not the index.** Ingesting a new version of a document cuts it into chunks; a chunk whose
 *   content is already stored (same document, position, text, title and metadata: most of an edited document) keeps
 *   its label and its row stays open; only new content is embedded and gets a label. The old version's chunks that
 *   are gone get their row closed at the write's version. A delete closes the rows of the document's chunks. So a
 *   version costs what it changed — a few chunks and a few rows — not a copy of the index.
 * - **As of v = a filter.** A query as of version v scans the one index with a filter that passes the labels live at
 *   v (one pass over the rows builds the bitmap). An engine built from version v's documents alone would hold exactly
 *   those chunks, with the same vectors, so it returns the same hits.
 * - **Rollback is a write.** Rolling back to v makes a new version: rows of labels live now but not at v close, labels
 *   live at v but not now get a new row, and each document's entry points at the text it had at v. Nothing is
 *   embedded (the chunks are all still there) and nothing is deleted: every version keeps its answers.
 * - **Document texts as deltas.** `document(id, asOf)` reads the text from a delta store (lesson 06): a full copy
 *   every 16 versions of a document, deltas in between.
 *
 * What it costs instead: an as-of query scans the vectors of every version, not only one version's (the benchmark's
 * second figure), and the history grows without bound unless old rows are pruned (`ValidityTable.prune`).
 */
import { chunkDocument, type ChunkOptions } from '../../shared/corpus/chunk.ts';
import { FlatIndex } from '../../shared/index/flat.ts';
import type { Chunk, Doc, Embedder, Metadata } from '../../shared/types.ts';
import { createDeltaStore, MemoryBackend, type VersionStore } from '../../shared/versions/delta-store.ts';
import { ValidityTable } from '../../shared/versions/validity.ts';
import { checkQuery, checkVersion, docsOf, embedChunks, idsOf, queryVector, toHits } from './base.ts';
import type { AsOfHit, AsOfQuery, HistoryOptions, VersionedIndex, WriteOp } from './types.ts';

export type { AsOfHit, AsOfQuery, HistoryOptions, VersionedIndex, WriteOp } from './types.ts';

/** One stretch of a document's history: from version `from`, its text is version `text` in the delta store. */
interface DocEntry {
  from: number;
  /** Version of the text in the delta store, or −1: the document does not exist from `from` on. */
  text: number;
  title?: string;
  metadata?: Metadata;
}

/** What identifies a chunk's content: its id (document, position, text) plus what else is embedded or returned. */
function contentKey(c: Chunk): string {
  return `${c.id}\u0000${c.title ?? ''}\u0000${JSON.stringify(c.metadata)}`;
}

class VersionedChunks implements VersionedIndex {
  private readonly embedder: Embedder;
  private readonly chunking: ChunkOptions | undefined;
  /** Label → chunk, for every chunk of every version. */
  private readonly chunks: Chunk[] = [];
  private readonly labelOf = new Map<string, number>();
  /** Every label's vector, whatever version it belongs to. */
  private readonly vectors: FlatIndex;
  private readonly validity = new ValidityTable();
  /** The labels live now, per document. */
  private readonly liveByDoc = new Map<string, number[]>();
  /** Per document, its entries in version order. */
  private readonly history = new Map<string, DocEntry[]>();
  private readonly texts: VersionStore;
  private readonly textRecords = new MemoryBackend();
  private latest = 0;

  constructor(opts: HistoryOptions) {
    this.embedder = opts.embedder;
    this.chunking = opts.chunk;
    this.vectors = new FlatIndex({ dim: opts.embedder.dim, initialCapacity: 64 });
    this.texts = createDeltaStore({ backend: this.textRecords, checkpointEvery: 16 });
  }

  get version(): number {
    return this.latest;
  }

  async apply(op: WriteOp): Promise<number> {
    const v = this.latest + 1;
    if (op.kind === 'delete') {
      for (const id of idsOf(op)) {
        const entries = this.history.get(id);
        if (!entries || entries[entries.length - 1].text < 0) continue; // not there: nothing changes
        for (const label of this.liveByDoc.get(id) ?? []) this.validity.close(label, v);
        this.liveByDoc.delete(id);
        entries.push({ from: v, text: -1 });
      }
      return (this.latest = v);
    }
    const docs = docsOf(op);
    // cut every document and find the content not stored yet; embed it before anything changes
    const cut = new Map<string, Chunk[]>();
    const fresh = new Map<string, Chunk>();
    for (const [id, doc] of docs) {
      const chunks = chunkDocument(doc, this.chunking);
      cut.set(id, chunks);
      for (const c of chunks) {
        const key = contentKey(c);
        if (!this.labelOf.has(key)) fresh.set(key, c);
      }
    }
    const freshChunks = [...fresh.values()];
    const vectors = await embedChunks(this.embedder, freshChunks);
    const labels = freshChunks.map((c) => {
      const label = this.chunks.length;
      this.chunks.push(c);
      this.labelOf.set(contentKey(c), label);
      return label;
    });
    this.vectors.add(labels, vectors);
    // then the rows: the document's old chunks that are gone close at v, its new ones open at v
    for (const [id, doc] of docs) {
      const now = cut.get(id)!.map((c) => this.labelOf.get(contentKey(c))!);
      const keep = new Set(now);
      for (const label of this.liveByDoc.get(id) ?? []) if (!keep.has(label)) this.validity.close(label, v);
      for (const label of now) if (!this.validity.isOpen(label)) this.validity.open(label, v);
      this.liveByDoc.set(id, now);
      let entries = this.history.get(id);
      if (!entries) this.history.set(id, (entries = []));
      entries.push({ from: v, text: this.texts.append(id, doc.text), title: doc.title, metadata: doc.metadata });
    }
    return (this.latest = v);
  }

  async query(text: string, opts: AsOfQuery = {}): Promise<AsOfHit[]> {
    const { asOf, k } = checkQuery(text, opts, this.latest);
    const q = await queryVector(this.embedder, text);
    if (!q) return [];
    const live = this.validity.liveAt(asOf);
    return toHits(
      this.vectors.search(q, k, (label) => live[label] === 1),
      (label) => this.chunks[label],
    );
  }

  document(id: string, asOf = this.latest): Doc | undefined {
    const e = this.entryAt(id, checkVersion(asOf, this.latest, 'document as of'));
    if (!e || e.text < 0) return undefined;
    const doc: Doc = { id, text: this.texts.get(id, e.text) };
    if (e.title !== undefined) doc.title = e.title;
    if (e.metadata !== undefined) doc.metadata = e.metadata;
    return doc;
  }

  async rollback(to: number): Promise<number> {
    checkVersion(to, this.latest, 'rollback to');
    const v = this.latest + 1;
    const { opened, closed } = this.validity.restore(to, v);
    // the documents those labels belong to now hold exactly their chunks live at v
    const touched = new Set<string>();
    for (const label of [...opened, ...closed]) touched.add(this.chunks[label].docId);
    for (const id of touched) this.liveByDoc.delete(id);
    const liveNow = this.validity.liveAt(v);
    for (let label = 0; label < liveNow.length; label++) {
      const id = this.chunks[label].docId;
      if (liveNow[label] !== 1 || !touched.has(id)) continue;
      let labels = this.liveByDoc.get(id);
      if (!labels) this.liveByDoc.set(id, (labels = []));
      labels.push(label);
    }
    // every document whose entry at `to` differs from its entry now gets a new entry pointing at the old text
    for (const [id, entries] of this.history) {
      const then = this.entryAt(id, to);
      const now = entries[entries.length - 1];
      const thenText = then?.text ?? -1;
      if (thenText === now.text && then?.title === now.title && then?.metadata === now.metadata) continue;
      entries.push(then ? { ...then, from: v } : { from: v, text: -1 });
    }
    return (this.latest = v);
  }

  /** The entry of document `id` in force at `version`: the last one whose `from` is at or before it. */
  private entryAt(id: string, version: number): DocEntry | undefined {
    const entries = this.history.get(id);
    if (!entries) return undefined;
    let lo = 0;
    let hi = entries.length - 1;
    let found: DocEntry | undefined;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (entries[mid].from <= version) {
        found = entries[mid];
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found;
  }
}

export function createHistory(opts: HistoryOptions): VersionedIndex {
  return new VersionedChunks(opts);
}
