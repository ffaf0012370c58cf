/**
 * Wrong (on purpose): a diff by document only, which is what `Engine.ingest` does with a batch today. Unchanged
 * documents are skipped (their fingerprints match) and removed ones dropped, but a document that changed at all is
 * re-indexed whole: every one of its chunks analysed and embedded again, although an edit in one paragraph of a long
 * document leaves most of its chunks exactly as they were.
 *
 * What differs from after.ts: updateIndex takes a changed document out whole and puts it back whole (no pairing of
 * its old and new chunks by their indexed text). Written as two of after.ts's updates: the first without the changed
 * documents (their chunks are removed), the second with them (all their chunks are new again).
 *
 * @rejected-with chunks embedded for an edit that changed
 */
import { diffDocuments } from '../../../shared/corpus/diff.ts';
import type { Doc } from '../../../shared/types.ts';
import { updateIndex as updateAfter, type CorpusIndex, type IndexDeps } from '../after.ts';
import { emptyIndex, latestVersions } from '../corpus-index.ts';

export { search, type CorpusIndex, type Hit, type IndexDeps, type SearchMode } from '../after.ts';

/** Per index, the fingerprints of the version it holds. */
const fingerprintsOf = new WeakMap<CorpusIndex, Map<string, string>>();

export async function buildIndex(docs: readonly Doc[], deps: IndexDeps): Promise<CorpusIndex> {
  return updateIndex(emptyIndex(deps), docs);
}

export async function updateIndex(index: CorpusIndex, docs: readonly Doc[]): Promise<CorpusIndex> {
  const diff = diffDocuments(fingerprintsOf.get(index) ?? new Map(), docs);
  const changed = new Set(diff.changed.map((d) => d.id));
  if (changed.size > 0) await updateAfter(index, latestVersions(docs).filter((d) => !changed.has(d.id)));
  await updateAfter(index, docs);
  fingerprintsOf.set(index, diff.fingerprints);
  return index;
}
