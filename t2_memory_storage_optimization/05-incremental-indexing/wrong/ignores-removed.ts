/**
 * Wrong (on purpose): after.ts's diff, run over the documents of the new version only. Every document given is
 * fingerprinted, and changed ones are compared chunk by chunk, so the work is right for edits and additions; but a
 * document the new version no longer has is never looked at, so its chunks stay in the index and keep answering
 * queries. The usual bug of a diff that loops over what it was given instead of comparing two sets.
 *
 * What differs from after.ts: the removed documents are not removed (their fingerprints are kept too, so they look
 * "known" forever). Written as after.ts's update given, besides `docs`, every document it was given before and is
 * no longer: unchanged to it, so kept, which is what never looking at them amounts to.
 *
 * @rejected-with still answers queries
 */
import type { Doc } from '../../../shared/types.ts';
import { updateIndex as updateAfter, type CorpusIndex, type IndexDeps } from '../after.ts';
import { emptyIndex, latestVersions } from '../corpus-index.ts';

export { search, type CorpusIndex, type Hit, type IndexDeps, type SearchMode } from '../after.ts';

/** Per index, every document it was ever given, by id (the last version given). */
const seenBy = new WeakMap<CorpusIndex, Map<string, Doc>>();

export async function buildIndex(docs: readonly Doc[], deps: IndexDeps): Promise<CorpusIndex> {
  return updateIndex(emptyIndex(deps), docs);
}

export async function updateIndex(index: CorpusIndex, docs: readonly Doc[]): Promise<CorpusIndex> {
  const seen = seenBy.get(index) ?? new Map<string, Doc>();
  const given = latestVersions(docs);
  const ids = new Set(given.map((d) => d.id));
  const missing = [...seen.values()].filter((d) => !ids.has(d.id));
  await updateAfter(index, [...docs, ...missing]);
  for (const d of given) seen.set(d.id, d);
  seenBy.set(index, seen);
  return index;
}
