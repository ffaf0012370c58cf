/**
 * Deltas with a checkpoint every K versions (shared/versions/delta-store.ts, where the winner lives for the engine):
 *
 * - version 0, K, 2K, … of a document is stored whole (a checkpoint);
 * - every other version is stored as a delta from the version before it: a diff-match-patch character diff
 *   (shared/versions/diff.ts, `dmpDiff`), encoded as COPY / SKIP / ADD instructions, so an edit of one word costs
 *   about that word plus a few bytes of lengths, not another 12 kB copy;
 * - version v is rebuilt from the checkpoint c = v − v mod K and the deltas c+1 … v: at most K records read and K − 1
 *   deltas applied, however long the history.
 *
 * Why this diff: on these histories (one to three word, sentence or paragraph edits per version) a word diff made
 * deltas of the same size and a line diff made them about five times larger (a Brown paragraph is one line, so a
 * one-word change costs the paragraph); diff-match-patch was also the quickest of the two small ones to compute. The
 * benchmark shows all three (`npm run t2 -- --only 06-delta-storage`).
 *
 * Why K = 16: a checkpoint costs one full copy per K versions (1/16 of the full-copies bytes), the deltas between
 * them a few per cent more; a larger K stores less but reads more deltas to rebuild a version (the benchmark's curve
 * of bytes and reconstruct time against K).
 */
import { createDeltaStore } from '../../shared/versions/delta-store.ts';
import { dmpDiff } from '../../shared/versions/diff.ts';
import type { StoreOptions, VersionStore } from './types.ts';

export type { RecordBackend, StoreOptions, VersionStore } from './types.ts';

export const CHECKPOINT_EVERY = 16;

export function createStore(opts: StoreOptions): VersionStore {
  return createDeltaStore({ backend: opts.backend, checkpointEvery: opts.checkpointEvery ?? CHECKPOINT_EVERY, diff: dmpDiff });
}
