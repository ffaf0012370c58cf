/**
 * What a retriever shard does with a write of the split engine. The ingest worker (ingest-worker.ts) chunks, embeds
 * and labels; it publishes a `SplitWriteOp` to the index's JetStream stream (jetstream-log.ts), and every shard
 * applies every op in stream order, keeping only the chunks whose `shardOf(label)` is its own:
 *
 *   ingest {docs: [{id, chunks: [{label, chunk, vector}]}]}  each doc: its chunks this shard held go (a new version
 *                                                             replaces the old), its chunks of this shard come in
 *   delete {ids}                                              each id: its chunks this shard held go
 *
 * An op carries everything a shard needs: chunk views (what a hit shows), labels (given out by the one writer, so
 * no two shards ever disagree on one) and vectors (float32, base64: shards never embed, and a vector is the bytes
 * the worker's embedder produced, exactly). The BM25 tokens are the chunk's indexed text analysed here, as the
 * engine analyses it. `nextLabel` is the writer's counter after this op: a restarted writer reads it from the last
 * op in the stream, so it never gives out a label twice.
 *
 * An apply is one synchronous step (no await between the first change and the last): a search sees the shard before
 * the op or after it, never half of it. BM25 postings are queued per op and rewritten at the next read
 * (`writablePart`: one `Bm25Shard.update`, one pass over the shard's postings, for every op since the last search),
 * vectors added/removed in the shard's `FlatIndex`, chunks in its map.
 */
import { indexText } from '../corpus/chunk.ts';
import { RagError } from '../errors.ts';
import { shardOf } from '../index/sharded.ts';
import type { ApplyOutcome } from '../serve/writes.ts';
import { createAnalyzer } from '../text/analyzer.ts';
import type { ShardPart, ChunkView } from './shard-service.ts';

export interface SplitChunk {
  label: number;
  chunk: ChunkView;
  /** The chunk's vector: its float32 bytes, base64 (`encodeVector`). */
  vector: string;
}

export interface SplitDoc {
  id: string;
  chunks: SplitChunk[];
}

export type SplitWriteOp =
  | { kind: 'ingest'; docs: SplitDoc[]; nextLabel: number }
  | { kind: 'delete'; ids: string[]; nextLabel: number };

export function encodeVector(v: Float32Array): string {
  return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64');
}

export function decodeVector(s: string, dim: number): Float32Array {
  const b = Buffer.from(s, 'base64');
  if (b.byteLength !== dim * 4) throw new RagError('INVALID_INPUT', `a vector of ${b.byteLength / 4} numbers, the shard holds ${dim}-d vectors`);
  const out = new Float32Array(dim);
  new Uint8Array(out.buffer).set(b);
  return out;
}

/** Each document id → the labels this shard holds for it (built from the part's chunks). */
export function docLabels(chunks: ReadonlyMap<number, ChunkView>): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const [label, c] of chunks) {
    const list = out.get(c.docId);
    if (list) list.push(label);
    else out.set(c.docId, [label]);
  }
  return out;
}

/** A shard part that takes writes: the doc → labels map and the version it is at. */
export interface WritablePart extends ShardPart {
  docs: Map<string, number[]>;
  /** The stream sequence of the last op applied (0: the saved index as loaded). */
  version: number;
  /**
   * Queues a BM25 change for the next read of `bm25` (which applies everything queued in one `Bm25Shard.update`).
   * Checked here, so that the read cannot fail: a label added twice, or added while held, throws now.
   */
  stageBm25(remove: readonly number[], addLabels: readonly number[], addTokens: readonly string[][]): void;
}

/**
 * `part` made writable. Its `bm25` becomes lazy: an op's postings change is queued (`stageBm25`) and applied, with
 * every other queued one, in a single `Bm25Shard.update` the next time `bm25` is read (a search, `stats`). An update
 * rewrites all the shard's postings, so a restarted shard replaying its write log, 1,800 ops in a 15-minute soak,
 * pays that once instead of once per op; a search still sees every op applied before it, all or nothing. Scores are
 * the same either way (`Bm25Shard.update`: any sequence of updates scores as one index of the same documents).
 */
export function writablePart(part: ShardPart, version = 0): WritablePart {
  let bm25 = part.bm25;
  let pending: { remove: Set<number>; add: Map<number, string[]> } | undefined;
  Object.defineProperty(part, 'bm25', {
    configurable: true,
    enumerable: true,
    get() {
      if (pending) {
        const p = pending;
        pending = undefined;
        bm25 = bm25.update(p.remove, [...p.add.keys()], [...p.add.values()]);
      }
      return bm25;
    },
    set(v: ShardPart['bm25']) {
      bm25 = v;
      pending = undefined;
    },
  });
  const stageBm25 = (remove: readonly number[], addLabels: readonly number[], addTokens: readonly string[][]) => {
    const p = pending ?? { remove: new Set<number>(), add: new Map<number, string[]>() };
    const removing = new Set(remove);
    for (const l of addLabels) {
      const heldNow = p.add.has(l) || (bm25.has(l) && !p.remove.has(l));
      if (heldNow && !removing.has(l)) throw new RagError('INVALID_INPUT', `label ${l} is held already`);
    }
    if (addLabels.length !== new Set(addLabels).size) throw new RagError('INVALID_INPUT', 'a label added twice in one op');
    // the checks passed: queue (a label added earlier in the queue and removed now is simply not added)
    for (const l of remove) {
      if (p.add.has(l)) p.add.delete(l);
      else if (bm25.has(l)) p.remove.add(l);
    }
    addLabels.forEach((l, i) => p.add.set(l, addTokens[i]));
    pending = p;
  };
  return Object.assign(part, { docs: docLabels(part.chunks), version, stageBm25 });
}

const analyzer = createAnalyzer();

/**
 * Applies op `version` to the shard (ops must come in stream order; the replica checks that). A malformed op is an
 * outcome `ok: false` and changes nothing (every shard refuses it the same way).
 */
export function applySplitOp(part: WritablePart, version: number, op: SplitWriteOp): ApplyOutcome {
  try {
    const remove: number[] = [];
    const addLabels: number[] = [];
    const addTokens: string[][] = [];
    const addRows: Float32Array[] = [];
    const addViews: ChunkView[] = [];
    const touched: { id: string; labels: number[] }[] = [];
    let present = 0;
    const ids = op.kind === 'ingest' ? op.docs.map((d) => d.id) : op.ids;
    if (!Array.isArray(ids) || ids.some((id) => typeof id !== 'string')) throw new RagError('INVALID_INPUT', `op ${version}: malformed`);
    for (const id of ids) {
      const held = part.docs.get(id);
      if (held) {
        present++;
        remove.push(...held);
      }
    }
    if (op.kind === 'ingest') {
      for (const doc of op.docs) {
        const mine: number[] = [];
        for (const c of doc.chunks) {
          if (shardOf(c.label, part.shards) !== part.shard) continue;
          if (c.chunk.docId !== doc.id) throw new RagError('INVALID_INPUT', `op ${version}: chunk ${c.chunk.chunkId} of doc ${c.chunk.docId} listed under ${doc.id}`);
          mine.push(c.label);
          addLabels.push(c.label);
          addTokens.push(analyzer.analyze(indexText(c.chunk as never)));
          addRows.push(decodeVector(c.vector, part.vectors.dim));
          addViews.push(c.chunk);
        }
        touched.push({ id: doc.id, labels: mine });
      }
    } else {
      for (const id of op.ids) touched.push({ id, labels: [] });
    }
    // everything decoded and checked: now change, in one synchronous step
    part.stageBm25(remove, addLabels, addTokens);
    if (remove.length > 0) part.vectors.remove(remove);
    if (addLabels.length > 0) part.vectors.add(addLabels, addRows);
    for (const l of remove) part.chunks.delete(l);
    addLabels.forEach((l, i) => part.chunks.set(l, addViews[i]));
    for (const t of touched) {
      if (t.labels.length > 0) part.docs.set(t.id, t.labels);
      else part.docs.delete(t.id);
    }
    part.version = version;
    return op.kind === 'ingest'
      ? { ok: true, result: { documents: op.docs.length, chunks: addLabels.length, replaced: present } }
      : { ok: true, result: { removed: present } };
  } catch (err) {
    part.version = version; // refused, but applied as far as the stream goes: the next op is version + 1
    return { ok: false, code: (err as RagError).code ?? 'INTERNAL', message: (err as Error).message };
  }
}
