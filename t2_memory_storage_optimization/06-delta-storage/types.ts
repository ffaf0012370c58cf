/**
 * The interface every version of 06-delta-storage has (before, after, exercise, wrong/*): a store of document
 * versions that writes its records to a backend the caller gives it (so the checkpoint and the benchmark count the
 * bytes stored and the records read from outside). The shapes are shared/versions/delta-store.ts's, which is where
 * the winner went.
 */
export type { RecordBackend, VersionStore } from '../../shared/versions/delta-store.ts';
import type { RecordBackend } from '../../shared/versions/delta-store.ts';

export interface StoreOptions {
  /** Where the records go: every byte the store keeps outside its own memory is `put` here. */
  backend: RecordBackend;
  /**
   * At most this many records are read to rebuild any version (a full copy and the deltas after it). Default 16. A
   * store that keeps every version whole reads one record and may ignore it.
   */
  checkpointEvery?: number;
}
