/**
 * Re-index everything on every change, the way a corpus index usually starts: whatever changed (one document of a
 * hundred thousand, or none), `updateIndex` throws the index away and builds a new one from the whole corpus: every
 * document chunked, every chunk analysed and embedded again.
 *
 * It is always right (the new index is by construction the one a build of the new version gives) and its cost is the
 * size of the corpus, not the size of the change.
 */
import { emptyIndex, chunksOf, indexChunks, latestVersions, type CorpusIndex, type IndexDeps } from './corpus-index.ts';
import type { Doc } from '../../shared/types.ts';

export { search, type CorpusIndex, type Hit, type IndexDeps, type SearchMode } from './corpus-index.ts';

/** An index of `docs` (a repeated id counts once, with its last version). */
export async function buildIndex(docs: readonly Doc[], deps: IndexDeps): Promise<CorpusIndex> {
  const index = emptyIndex(deps);
  await indexChunks(index, latestVersions(docs).flatMap((doc) => chunksOf(index, doc)));
  return index;
}

/** The index of the new version `docs` of the corpus: here, a new build from scratch. */
export async function updateIndex(index: CorpusIndex, docs: readonly Doc[]): Promise<CorpusIndex> {
  return buildIndex(docs, index.deps);
}
