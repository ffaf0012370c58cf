/**
 * Wrong (on purpose): one index for every version, each chunk stamped with the version that added it, and a query as
 * of v keeps the chunks added at or before v. What it forgets is the other end: when a write replaces or deletes a
 * document, its old chunks are removed from the index, as the engine's `remove` does. Queries as of the latest
 * version are right; as of an older one they miss every chunk that has been replaced since, and a rollback has to
 * embed the old chunks all over again.
 *
 * What differs from after.ts: a chunk has a start and no end (no validity rows); replaced chunks leave the index.
 * That is a different index throughout, not one part of after.ts's changed (its versioned chunks keep every chunk
 * and every row, and export neither), so it is written whole; the helpers are base.ts's, as in after.ts.
 *
 * @rejected-with an engine built from version
 */
import { chunkDocument, type ChunkOptions } from '../../../shared/corpus/chunk.ts';
import { FlatIndex } from '../../../shared/index/flat.ts';
import type { Chunk, Doc, Embedder } from '../../../shared/types.ts';
import { checkQuery, checkVersion, docsOf, embedChunks, idsOf, queryVector, toHits } from '../base.ts';
import type { AsOfHit, AsOfQuery, HistoryOptions, VersionedIndex, WriteOp } from '../types.ts';

export type { AsOfHit, AsOfQuery, HistoryOptions, VersionedIndex, WriteOp } from '../after.ts';

class AddedAt implements VersionedIndex {
  private readonly embedder: Embedder;
  private readonly chunking: ChunkOptions | undefined;
  private readonly chunks: Chunk[] = [];
  /** Per label, the version that added it. */
  private readonly addedAt: number[] = [];
  private readonly vectors: FlatIndex;
  private readonly liveByDoc = new Map<string, number[]>();
  /** Per document, [from version, the document or undefined when deleted]. */
  private readonly docs = new Map<string, Array<[number, Doc | undefined]>>();
  private latest = 0;

  constructor(opts: HistoryOptions) {
    this.embedder = opts.embedder;
    this.chunking = opts.chunk;
    this.vectors = new FlatIndex({ dim: opts.embedder.dim, initialCapacity: 64 });
  }

  get version(): number {
    return this.latest;
  }

  async apply(op: WriteOp): Promise<number> {
    const v = this.latest + 1;
    if (op.kind === 'ingest') await this.put([...docsOf(op).values()], v);
    else for (const id of idsOf(op)) this.drop(id, v);
    return (this.latest = v);
  }

  async query(text: string, opts: AsOfQuery = {}): Promise<AsOfHit[]> {
    const { asOf, k } = checkQuery(text, opts, this.latest);
    const q = await queryVector(this.embedder, text);
    if (!q) return [];
    return toHits(
      this.vectors.search(q, k, (label) => this.addedAt[label] <= asOf),
      (label) => this.chunks[label],
    );
  }

  document(id: string, asOf = this.latest): Doc | undefined {
    checkVersion(asOf, this.latest, 'document as of');
    let found: Doc | undefined;
    for (const [from, doc] of this.docs.get(id) ?? []) if (from <= asOf) found = doc;
    return found;
  }

  async rollback(to: number): Promise<number> {
    checkVersion(to, this.latest, 'rollback to');
    const v = this.latest + 1;
    const changed: Doc[] = [];
    for (const id of this.docs.keys()) {
      const then = this.document(id, to);
      const now = this.document(id);
      if (then === now) continue;
      if (then) changed.push(then);
      else this.drop(id, v);
    }
    await this.put(changed, v);
    return (this.latest = v);
  }

  private async put(docs: Doc[], v: number): Promise<void> {
    for (const doc of docs) {
      const chunks = chunkDocument(doc, this.chunking);
      const vectors = await embedChunks(this.embedder, chunks);
      this.drop(doc.id, v);
      const labels = chunks.map((c) => {
        this.chunks.push(c);
        this.addedAt.push(v);
        return this.chunks.length - 1;
      });
      this.vectors.add(labels, vectors);
      this.liveByDoc.set(doc.id, labels);
      this.entries(doc.id).push([v, doc]);
    }
  }

  private drop(id: string, v: number): void {
    const live = this.liveByDoc.get(id);
    if (!live) return;
    this.vectors.remove(live); // replaced: gone from the index
    this.liveByDoc.delete(id);
    this.entries(id).push([v, undefined]);
  }

  private entries(id: string): Array<[number, Doc | undefined]> {
    let e = this.docs.get(id);
    if (!e) this.docs.set(id, (e = []));
    return e;
  }
}

export function createHistory(opts: HistoryOptions): VersionedIndex {
  return new AddedAt(opts);
}
