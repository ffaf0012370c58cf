/**
 * Incremental indexing: an update does the work of the change, not of the corpus.
 *
 * 1. **Documents by fingerprint.** The index remembers, per document, a content hash of everything the document
 *    contributes (id, title, text, metadata: `docFingerprint` in shared/corpus/diff.ts) and the labels of its chunks.
 *    `diffDocuments` compares the new version with those: an unchanged document costs one hash, nothing else (it is
 *    not even chunked); a removed one has its chunks removed; an added one is chunked and indexed.
 * 2. **Chunks by indexed text.** A changed document is chunked again and its new chunks are paired with its old ones
 *    by the text they are indexed under (`diffChunks`): a pair keeps its label, its postings and its vector (only the
 *    stored chunk is replaced when its position or metadata moved); only the unpaired new chunks are analysed and
 *    embedded, and the unpaired old ones removed. An edit in one paragraph of a long document re-embeds the chunks
 *    holding that paragraph, not the document.
 *
 * Not keyed on the chunk id alone: `chunkId` hashes the document id, position and chunk text, not the title or the
 * metadata, so a retitled document keeps every chunk id while every chunk is now indexed under a new text.
 *
 * A build is an update from the empty index. The update is not atomic (nothing queries this index meanwhile); the
 * engine's ingest shows how to stage a batch and commit it in one step (shared/engine.ts).
 */
import { diffChunks, diffDocuments } from '../../shared/corpus/diff.ts';
import type { Chunk, Doc } from '../../shared/types.ts';
import { chunksOf, emptyIndex, indexChunks, removeChunks, type CorpusIndex, type IndexDeps } from './corpus-index.ts';

export { search, type CorpusIndex, type Hit, type IndexDeps, type SearchMode } from './corpus-index.ts';

/** What the index remembers about its documents between updates. */
interface Known {
  /** Document id → fingerprint of the version indexed. */
  fingerprints: Map<string, string>;
  /** Document id → labels of its chunks, in position order. */
  labels: Map<string, number[]>;
}

const knownByIndex = new WeakMap<CorpusIndex, Known>();

/**
 * The index's documents. An index this file did not build is taken apart by its chunks, with fingerprints unknown:
 * each of its documents is then chunked and compared chunk by chunk once (and keeps the embeddings that still hold).
 */
function knownOf(index: CorpusIndex): Known {
  let known = knownByIndex.get(index);
  if (known === undefined) {
    known = { fingerprints: new Map(), labels: new Map() };
    const positions = new Map<string, Array<[number, number]>>();
    index.chunks.forEach((c, label) => {
      if (c === undefined) return;
      const list = positions.get(c.docId);
      if (list) list.push([c.position, label]);
      else positions.set(c.docId, [[c.position, label]]);
    });
    for (const [id, list] of positions) {
      known.fingerprints.set(id, '');
      known.labels.set(id, list.sort((a, b) => a[0] - b[0]).map(([, label]) => label));
    }
    knownByIndex.set(index, known);
  }
  return known;
}

/** An index of `docs` (a repeated id counts once, with its last version): an update from the empty index. */
export async function buildIndex(docs: readonly Doc[], deps: IndexDeps): Promise<CorpusIndex> {
  return updateIndex(emptyIndex(deps), docs);
}

/** Brings the index to the new version `docs` of the corpus, in place, doing only the work the change needs. */
export async function updateIndex(index: CorpusIndex, docs: readonly Doc[]): Promise<CorpusIndex> {
  const known = knownOf(index);
  const diff = diffDocuments(known.fingerprints, docs);

  for (const id of diff.removed) {
    removeChunks(index, known.labels.get(id) ?? []);
    known.labels.delete(id);
  }

  // New chunks to analyse and embed, and where each one's label goes once it has one.
  const fresh: Chunk[] = [];
  const slots: Array<{ labels: number[]; at: number }> = [];

  for (const doc of diff.changed) {
    const oldLabels = known.labels.get(doc.id) ?? [];
    const next = chunksOf(index, doc);
    const d = diffChunks(
      oldLabels.map((label) => index.chunks[label]!),
      next,
    );
    const labels = new Array<number>(next.length);
    for (const p of d.same) labels[p.next] = oldLabels[p.old];
    for (const p of d.moved) {
      labels[p.next] = oldLabels[p.old];
      index.chunks[oldLabels[p.old]] = next[p.next]; // same indexed text: postings and vector stay
    }
    removeChunks(
      index,
      d.dropped.map((o) => oldLabels[o]),
    );
    for (const n of d.added) {
      fresh.push(next[n]);
      slots.push({ labels, at: n });
    }
    known.labels.set(doc.id, labels);
  }

  for (const doc of diff.added) {
    const next = chunksOf(index, doc);
    const labels = new Array<number>(next.length);
    next.forEach((chunk, n) => {
      fresh.push(chunk);
      slots.push({ labels, at: n });
    });
    known.labels.set(doc.id, labels);
  }

  const labels = await indexChunks(index, fresh);
  labels.forEach((label, i) => (slots[i].labels[slots[i].at] = label));
  known.fingerprints = diff.fingerprints;
  return index;
}
