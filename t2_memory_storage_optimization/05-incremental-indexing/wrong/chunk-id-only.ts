/**
 * Wrong (on purpose): "chunk ids already hash the content", so the diff is by chunk id. Every document of the new
 * version is chunked; a chunk whose id the index already holds is kept as it is, a new id is indexed, and an id the
 * new version no longer has is removed. Cheap, and it handles edits to the text and removed documents. But `chunkId`
 * hashes the document id, the position and the chunk text, not the title or the metadata: a retitled document keeps
 * every chunk id, so its chunks stay embedded and searchable under the old title, and a relabelled one keeps its old
 * metadata. The index no longer answers as a rebuild of the same corpus does.
 *
 * What differs from after.ts: all of updateIndex (no document fingerprints; chunks matched by id instead of by their
 * indexed text), kept here as a copy since after.ts exports none of its bookkeeping.
 *
 * @rejected-with was retitled
 */
import type { Chunk, Doc } from '../../../shared/types.ts';
import { chunksOf, emptyIndex, indexChunks, latestVersions, removeChunks, type CorpusIndex, type IndexDeps } from '../corpus-index.ts';

export { search, type CorpusIndex, type Hit, type IndexDeps, type SearchMode } from '../after.ts';

export async function buildIndex(docs: readonly Doc[], deps: IndexDeps): Promise<CorpusIndex> {
  return updateIndex(emptyIndex(deps), docs);
}

export async function updateIndex(index: CorpusIndex, docs: readonly Doc[]): Promise<CorpusIndex> {
  const labelOf = new Map<string, number>();
  index.chunks.forEach((c, label) => {
    if (c !== undefined) labelOf.set(c.id, label);
  });
  const fresh: Chunk[] = [];
  for (const doc of latestVersions(docs)) {
    for (const chunk of chunksOf(index, doc)) {
      if (labelOf.has(chunk.id)) labelOf.delete(chunk.id); // same id: kept as it is
      else fresh.push(chunk);
    }
  }
  removeChunks(index, [...labelOf.values()]); // ids the new version no longer has
  await indexChunks(index, fresh);
  return index;
}
