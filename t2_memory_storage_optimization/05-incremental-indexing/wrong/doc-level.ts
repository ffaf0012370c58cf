/**
 * Wrong (on purpose): a diff by document only, which is what `Engine.ingest` does with a batch today. Unchanged
 * documents are skipped (their fingerprints match) and removed ones dropped, but a document that changed at all is
 * re-indexed whole: every one of its chunks analysed and embedded again, although an edit in one paragraph of a long
 * document leaves most of its chunks exactly as they were.
 *
 * What differs from after.ts: a changed document's old chunks are all removed and all its new chunks indexed (no
 * pairing of old and new chunks by their indexed text). after.ts keeps its bookkeeping inside updateIndex and
 * exports none of it (exporting it would make exercise.ts export it too, and give the solution away), so the update
 * is kept here as a copy with that part changed.
 *
 * @rejected-with chunks embedded for an edit that changed
 */
import { diffDocuments } from '../../../shared/corpus/diff.ts';
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
  for (const id of diff.removed) {
    removeChunks(index, known.labels.get(id) ?? []);
    known.labels.delete(id);
  }
  const fresh: Chunk[] = [];
  const owners: Array<{ labels: number[]; at: number }> = [];
  for (const doc of [...diff.changed, ...diff.added]) {
    removeChunks(index, known.labels.get(doc.id) ?? []);
    const next = chunksOf(index, doc);
    const labels = new Array<number>(next.length);
    next.forEach((chunk, n) => {
      fresh.push(chunk);
      owners.push({ labels, at: n });
    });
    known.labels.set(doc.id, labels);
  }
  const labels = await indexChunks(index, fresh);
  labels.forEach((label, i) => (owners[i].labels[owners[i].at] = label));
  known.fingerprints = diff.fingerprints;
  return index;
}
