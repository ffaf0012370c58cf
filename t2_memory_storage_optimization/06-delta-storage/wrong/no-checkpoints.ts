/**
 * Wrong (on purpose): deltas, but only version 0 is stored whole. Every version is the one before it plus a delta, so
 * the bytes are small, and rebuilding version v applies v deltas: the cost of reading grows with the length of the
 * history, without bound.
 *
 * What differs from after.ts: checkpointEvery is ignored (no full copy after version 0: after.ts's store with a
 * checkpoint interval no history reaches); the diff and the delta encoding are after.ts's.
 *
 * @rejected-with deltas since the last full copy
 */
import { createStore as createAfter, type StoreOptions, type VersionStore } from '../after.ts';

export { CHECKPOINT_EVERY, type RecordBackend, type StoreOptions, type VersionStore } from '../after.ts';

export function createStore(opts: StoreOptions): VersionStore {
  return createAfter({ ...opts, checkpointEvery: Number.MAX_SAFE_INTEGER });
}
