/**
 * Wrong (on purpose): deltas and checkpoints as in after.ts, but the diff compares lines. It is exact and quick, and
 * the classic choice for source code; in prose a line is a paragraph, so a one-word edit stores the whole paragraph
 * (hundreds of bytes) where a word or character diff stores the word.
 *
 * What differs from after.ts: the diff (`lineDiff` instead of `dmpDiff`); the store is the same.
 *
 * @rejected-with deltas average
 */
import { createDeltaStore } from '../../../shared/versions/delta-store.ts';
import { lineDiff } from '../../../shared/versions/diff.ts';
import { CHECKPOINT_EVERY, type StoreOptions, type VersionStore } from '../after.ts';

export { CHECKPOINT_EVERY, type RecordBackend, type StoreOptions, type VersionStore } from '../after.ts';

export function createStore(opts: StoreOptions): VersionStore {
  return createDeltaStore({ backend: opts.backend, checkpointEvery: opts.checkpointEvery ?? CHECKPOINT_EVERY, diff: lineDiff });
}
