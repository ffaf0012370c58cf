/**
 * Wrong (on purpose): keep only the log of writes, the cheapest history there is, and answer a query as of version v
 * by replaying the log up to v into a fresh index: every document of that version chunked and embedded again, for
 * every such query. The history costs next to nothing; an old version costs a whole re-index to ask.
 *
 * What differs from after.ts: no index is kept at all (no chunks, no vectors, no validity); `document` replays the
 * log too. Nothing of after.ts is left to reuse but its helpers in base.ts, so it is written whole.
 *
 * @rejected-with rebuilt the index of version
 */
import { chunkDocument, type ChunkOptions } from '../../../shared/corpus/chunk.ts';
import { FlatIndex } from '../../../shared/index/flat.ts';
import type { Doc, Embedder } from '../../../shared/types.ts';
import { checkQuery, checkVersion, docsOf, embedChunks, idsOf, queryVector, toHits } from '../base.ts';
import type { AsOfHit, AsOfQuery, HistoryOptions, VersionedIndex, WriteOp } from '../types.ts';

export type { AsOfHit, AsOfQuery, HistoryOptions, VersionedIndex, WriteOp } from '../after.ts';

type Entry = { kind: 'write'; op: WriteOp } | { kind: 'rollback'; to: number };

class WriteLog implements VersionedIndex {
  private readonly embedder: Embedder;
  private readonly chunking: ChunkOptions | undefined;
  private readonly log: Entry[] = [];

  constructor(opts: HistoryOptions) {
    this.embedder = opts.embedder;
    this.chunking = opts.chunk;
  }

  get version(): number {
    return this.log.length;
  }

  async apply(op: WriteOp): Promise<number> {
    if (op.kind === 'ingest') docsOf(op);
    else idsOf(op);
    this.log.push({ kind: 'write', op });
    return this.version;
  }

  async query(text: string, opts: AsOfQuery = {}): Promise<AsOfHit[]> {
    const { asOf, k } = checkQuery(text, opts, this.version);
    const chunks = [...this.docsAt(asOf).values()].flatMap((d) => chunkDocument(d, this.chunking));
    const index = new FlatIndex({ dim: this.embedder.dim, initialCapacity: Math.max(1, chunks.length) });
    index.add(
      chunks.map((_, i) => i),
      await embedChunks(this.embedder, chunks),
    );
    const q = await queryVector(this.embedder, text);
    return q ? toHits(index.search(q, k), (label) => chunks[label]) : [];
  }

  document(id: string, asOf = this.version): Doc | undefined {
    return this.docsAt(checkVersion(asOf, this.version, 'document as of')).get(id);
  }

  async rollback(to: number): Promise<number> {
    this.log.push({ kind: 'rollback', to: checkVersion(to, this.version, 'rollback to') });
    return this.version;
  }

  /** The documents at `version`, replayed from the log. */
  private docsAt(version: number): Map<string, Doc> {
    const states = [new Map<string, Doc>()];
    for (const e of this.log.slice(0, version)) {
      const next = new Map(e.kind === 'rollback' ? states[e.to] : states[states.length - 1]);
      if (e.kind === 'write' && e.op.kind === 'ingest') for (const [id, d] of docsOf(e.op)) next.set(id, d);
      if (e.kind === 'write' && e.op.kind === 'delete') for (const id of e.op.ids) next.delete(id);
      states.push(next);
    }
    return states[version];
  }
}

export function createHistory(opts: HistoryOptions): VersionedIndex {
  return new WriteLog(opts);
}
