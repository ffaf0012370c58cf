/**
 * Wrong (on purpose): after.ts's diff, run over the documents of the new version only. Every document given is
 * fingerprinted, and changed ones are compared chunk by chunk, so the work is right for edits and additions; but a
 * document the new version no longer has is never looked at, so its chunks stay in the index and keep answering
 * queries. The usual bug of a diff that loops over what it was given instead of comparing two sets.
 *
 * What differs from after.ts: the removed documents are not removed (their fingerprints are kept too, so they look
 * "known" forever). after.ts exports none of its bookkeeping, so updateIndex is kept here as a copy without that step.
 *
 * @rejected-with still answers queries
 */
import { diffChunks, diffDocuments } from '../../../shared/corpus/diff.ts';
import type { Chunk, Doc } from '../../../shared/types.ts';
import { chunksOf, emptyIndex, indexChunks, removeChunks, type CorpusIndex, type IndexDeps } from '../corpus-index.ts';

export { search, type CorpusIndex, type Hit, type IndexDeps, type SearchMode } from '../corpus-index.ts';

interface Known {
  fingerprints: Map<string, string>;
  labels: Map<string, number[]>;
}

const knownByIndex = new WeakMap<CorpusIndex, Known>();

export async function buildIndex(docs: readonly Doc[], deps: IndexDeps): Promise<CorpusIndex> {
  return updateIndex(emptyIndex(deps), docs);
}

export async function updateIndex(index: CorpusIndex, docs: readonly Doc[]): Promise<CorpusIndex> {
  let known = knownByIndex.get(index);
  if (known === undefined) knownByIndex.set(index, (known = { fingerprints: new Map(), labels: new Map() }));
  const diff = diffDocuments(known.fingerprints, docs);
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
      index.chunks[oldLabels[p.old]] = next[p.next];
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
  // the documents missing from `docs` stay: their fingerprints are carried over with their chunks
  for (const id of diff.removed) diff.fingerprints.set(id, known.fingerprints.get(id)!);
  known.fingerprints = diff.fingerprints;
  return index;
}
