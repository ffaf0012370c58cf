/**
 * EXERCISE 05-incremental-indexing — make an update cost the change, not the corpus.
 *
 * As shipped, `updateIndex` is correct and naive: whatever changed, it builds a new index from the whole corpus,
 * every document chunked and every chunk analysed and embedded again. For a 1% edit of a large corpus, 99% of that
 * work gives back exactly what the index already holds. The checkpoint accepts the results and rejects the cost:
 *
 *   - after an update, the index must answer exactly as a full rebuild of the new version does (same hits, same
 *     scores, same titles and metadata, for BM25 and for dense queries), whatever the edit: text changed anywhere in a
 *     document, documents added or removed, a title or the metadata changed, a document given twice (the last wins);
 *   - an update may embed (and analyse) at most the chunks the change really needs: those of the new version whose
 *     indexed text (the title, then the chunk text) their document's previous version did not have. The checkpoint
 *     counts every text given to the embedder and the analyzer during the update, and reports
 *     "312 chunks embedded for an edit that changed 23";
 *   - an update that changes nothing embeds nothing.
 *
 * What is yours to decide: what the index remembers between two updates, how it tells which documents and which
 * chunks changed (and what a change is: the chunk id is not the whole story), what it keeps and what it redoes.
 * corpus-index.ts has the plumbing (chunking, indexing a list of chunks, removing labels, search); the embedder is
 * fitted once and frozen, never fit it again.
 *
 * Measure yours beside before and after (the headline is chunks embedded for a 1% edit):
 *   npm run t2 -- --only 05-incremental-indexing --impl exercise --quick
 * Check it: npm run checkpoint -- 05-incremental-indexing
 * Stuck? npm run hint -- 05-incremental-indexing
 */
import type { Doc } from '../../shared/types.ts';
import { chunksOf, emptyIndex, indexChunks, latestVersions, type CorpusIndex, type IndexDeps } from './corpus-index.ts';

export { search, type CorpusIndex, type Hit, type IndexDeps, type SearchMode } from './corpus-index.ts';

/** An index of `docs` (a repeated id counts once, with its last version). */
export async function buildIndex(docs: readonly Doc[], deps: IndexDeps): Promise<CorpusIndex> {
  const index = emptyIndex(deps);
  await indexChunks(index, latestVersions(docs).flatMap((doc) => chunksOf(index, doc)));
  return index;
}

/** Brings the index to the new version `docs` of the corpus (in place or as a new index: the one returned counts). */
export async function updateIndex(index: CorpusIndex, docs: readonly Doc[]): Promise<CorpusIndex> {
  return buildIndex(docs, index.deps);
}
