/**
 * EXERCISE 07-versions — keep every version of the index queryable, without a copy of the index per version.
 *
 * As shipped it snapshots the whole index after every write (documents, chunks, and a vector index of every chunk),
 * so a query as of version v searches snapshot v and a rollback copies an old snapshot. It is exact, and every
 * version costs a copy of every vector although a write changes one document. The checkpoint accepts its answers and
 * rejects that cost.
 *
 * What must hold (checked by `npm run checkpoint -- 07-versions`, on 8 Brown documents and 35 writes after them):
 *
 *   - versions as in the service's write path: 0 is the empty index, each `apply` makes the next one;
 *   - `query(text, { asOf: v, k })` returns what the engine (`createEngine`, flat vectors, dense mode) built from the
 *     documents of version v alone returns: the same chunks, in the same order, with the same scores;
 *   - `document(id, asOf)` is the document as it was then, or undefined if it did not exist;
 *   - `rollback(to)` writes a new version (the latest + 1) whose documents and answers are version `to`'s, and every
 *     earlier version keeps answering as it did; writing goes on from there;
 *   - a version that does not exist is refused.
 *
 * What it counts (before.ts is exempt):
 *
 *   - the bytes the history keeps per version, by walking the object's properties (shared/versions/sizeof.ts; keep
 *     your state in properties, where the walk can see it): at most half of what one whole document takes (its text,
 *     its chunks, their vectors);
 *   - texts embedded by a query as of an old version: one, its own;
 *   - texts embedded by a rollback: none.
 *
 * Measure it: npm run t2 -- --only 07-versions --impl exercise --quick (an "exercise" row: bytes kept per version, the
 * headline, and the time of a query as of a random version).
 * Stuck? npm run hint -- 07-versions
 */
import { chunkDocument, type ChunkOptions } from '../../shared/corpus/chunk.ts';
import { FlatIndex } from '../../shared/index/flat.ts';
import type { Chunk, Doc, Embedder } from '../../shared/types.ts';
import { checkQuery, checkVersion, docsOf, embedChunks, idsOf, queryVector, toHits } from './base.ts';
import type { AsOfHit, AsOfQuery, HistoryOptions, VersionedIndex, WriteOp } from './types.ts';

export type { AsOfHit, AsOfQuery, HistoryOptions, VersionedIndex, WriteOp } from './types.ts';

/** The whole index at one version. Label i is chunks[i]. */
interface Snapshot {
  docs: Map<string, Doc>;
  chunks: Chunk[];
  vectors: FlatIndex;
}

class History implements VersionedIndex {
  private readonly embedder: Embedder;
  private readonly chunking: ChunkOptions | undefined;
  // TODO: one snapshot of everything per version. Decide what a version really has to keep.
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
    // TODO: a copy of the old snapshot. What does a rollback have to write, if the old version is still in the history?
    const snap = this.snapshots[checkVersion(to, this.version, 'rollback to')];
    const vectors = snap.chunks.map((_, label) => snap.vectors.vector(label)!);
    this.snapshots.push({ docs: new Map(snap.docs), chunks: [...snap.chunks], vectors: this.indexOf(vectors) });
    return this.version;
  }

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
  return new History(opts);
}
