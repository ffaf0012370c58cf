/**
 * Wrong (on purpose): a word diff written by hand the quick way, with checkpoints. The text is split into words with
 * `split(/\s+/)` and a version is rebuilt by joining the words with single spaces: small deltas, bounded reads, and
 * the blank line between two paragraphs (and every double space) comes back as one space. The history is no longer
 * the documents that were stored.
 *
 * What differs from after.ts: the diff and its tokens (words without their whitespace), so what is stored, full
 * copies included, is the rejoined words; the store and its checkpoints every K versions are after.ts's (the
 * engine's delta store).
 *
 * @rejected-with did not come back byte for byte
 */
import { createDeltaStore } from '../../../shared/versions/delta-store.ts';
import { tokenDiff } from '../../../shared/versions/diff.ts';
import { CHECKPOINT_EVERY, type StoreOptions, type VersionStore } from '../after.ts';

export { CHECKPOINT_EVERY, type RecordBackend, type StoreOptions, type VersionStore } from '../after.ts';

/** Words, each followed by one space: joined, they give the text with its whitespace collapsed. */
const words = (text: string) => text.split(/\s+/).filter((w) => w.length > 0).map((w) => `${w} `);

export function createStore(opts: StoreOptions): VersionStore {
  const store = createDeltaStore({
    backend: opts.backend,
    checkpointEvery: opts.checkpointEvery ?? CHECKPOINT_EVERY,
    diff: (a, b) => tokenDiff(words(a), words(b)),
  });
  return {
    append: (docId, text) => store.append(docId, words(text).join('')),
    get: (docId, version) => store.get(docId, version).trimEnd(),
    versions: (docId) => store.versions(docId),
  };
}
