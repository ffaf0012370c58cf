/**
 * A version history the way it is first built: after every write, keep a snapshot of the whole index — the
 * documents, the chunks, and a vector index holding every chunk's vector — so that a query "as of version v" simply
 * searches snapshot v, and a rollback to v adds a copy of snapshot v as the newest version.
 *
 * Queries as of any version are as fast as queries now, and exact. The price is that every version costs a copy of
 * the whole index, although a write changes one document: a hundred edits of one document keep a hundred copies of
 * every other document's vectors. (Snapshots share the chunk and document objects that did not change; the vectors
 * are copied, as saving the engine to a snapshot folder per version would copy them.)
 */
import { chunkDocument } from '../../shared/corpus/chunk.ts';
import { FlatIndex } from '../../shared/index/flat.ts';
import type { Chunk, Doc, Embedder } from '../../shared/types.ts';
import type { ChunkOptions } from '../../shared/corpus/chunk.ts';
import { checkQuery, checkVersion, docsOf, embedChunks, idsOf, queryVector, toHits } from './base.ts';
import type { AsOfHit, AsOfQuery, HistoryOptions, VersionedIndex, WriteOp } from './types.ts';

export type { AsOfHit, AsOfQuery, HistoryOptions, VersionedIndex, WriteOp } from './types.ts';

/** The whole index at one version. Label i is chunks[i]. */
interface Snapshot {
  docs: Map<string, Doc>;
  chunks: Chunk[];
  vectors: FlatIndex;
}

class SnapshotPerVersion implements VersionedIndex {
  private readonly embedder: Embedder;
  private readonly chunking: ChunkOptions | undefined;
  private readonly snapshots: Snapshot[];

  constructor(opts: HistoryOptions) {
    this.embedder = opts.embedder;
    this.chunking = opts.chunk;
    this.snapshots = [{ docs: new Map(), chunks: [], vectors: new FlatIndex({ dim: opts.embedder.dim, initialCapacity: 1 }) }];
  }

  get version(): number {
    return this.snapshots.length - 1;
  }

  async apply(op: WriteOp): Promise<number> {
    const prev = this.snapshots[this.snapshots.length - 1];
    const docs = new Map(prev.docs);
    const changed = new Set<string>();
    if (op.kind === 'ingest') {
      for (const [id, doc] of docsOf(op)) {
        docs.set(id, doc);
        changed.add(id);
      }
    } else {
      for (const id of idsOf(op)) {
        docs.delete(id);
        changed.add(id);
      }
    }
    // the unchanged documents' chunks and vectors come from the previous snapshot; changed ones are cut and embedded
    const chunks: Chunk[] = [];
    const vectors: Float32Array[] = [];
    prev.chunks.forEach((c, label) => {
      if (changed.has(c.docId)) return;
      chunks.push(c);
      vectors.push(prev.vectors.vector(label)!);
    });
    for (const id of changed) {
      const doc = docs.get(id);
      if (!doc) continue;
      const fresh = chunkDocument(doc, this.chunking);
      chunks.push(...fresh);
      vectors.push(...(await embedChunks(this.embedder, fresh)));
    }
    this.snapshots.push({ docs, chunks, vectors: this.indexOf(vectors) });
    return this.version;
  }

  async query(text: string, opts: AsOfQuery = {}): Promise<AsOfHit[]> {
    const { asOf, k } = checkQuery(text, opts, this.version);
    const snap = this.snapshots[asOf];
    const q = await queryVector(this.embedder, text);
    if (!q) return [];
    return toHits(snap.vectors.search(q, k), (label) => snap.chunks[label]);
  }

  document(id: string, asOf = this.version): Doc | undefined {
    return this.snapshots[checkVersion(asOf, this.version, 'document as of')].docs.get(id);
  }

  async rollback(to: number): Promise<number> {
    const snap = this.snapshots[checkVersion(to, this.version, 'rollback to')];
    const vectors = snap.chunks.map((_, label) => snap.vectors.vector(label)!);
    this.snapshots.push({ docs: new Map(snap.docs), chunks: [...snap.chunks], vectors: this.indexOf(vectors) });
    return this.version;
  }

  /** A vector index of exactly these rows, label i = row i. */
  private indexOf(vectors: Float32Array[]): FlatIndex {
    const index = new FlatIndex({ dim: this.embedder.dim, initialCapacity: Math.max(1, vectors.length) });
    index.add(
      vectors.map((_, i) => i),
      vectors,
    );
    return index;
  }
}

export function createHistory(opts: HistoryOptions): VersionedIndex {
  return new SnapshotPerVersion(opts);
}
