/**
 * The interface every version of 10-tiered-storage shares (before, after, exercise, wrong/*).
 *
 * `openStore(cold, opts)` opens a store of chunk texts over `cold`, the source of truth: a file of compressed blocks on
 * disk (shared/store/block-file.ts), where one read costs a positioned read of a block and its decompression. The
 * store may hold up to `opts.memoryBytes` of text in memory and use up to `opts.diskBytes` of local disk under
 * `opts.dir`.
 */

/** The texts at rest: `read(i)` is text i, from disk (compressed). */
export interface ColdStore {
  readonly size: number;
  read(i: number): Promise<string>;
}

export interface TierOptions {
  /**
   * Memory the store may hold for texts, in bytes as `textCost` (shared/store/lru.ts) counts a text: its bytes in V8
   * (one a character for Latin-1 text, two otherwise) plus 64 bytes of bookkeeping.
   */
  memoryBytes: number;
  /** Local disk the store may use, in bytes of UTF-8 text. */
  diskBytes: number;
  /** A directory of its own for files on local disk (exists, empty). */
  dir: string;
}

export interface TierStats {
  /** Reads answered from memory, from local disk, from the cold store. */
  hot: number;
  warm: number;
  cold: number;
  /** Bytes of text (as `textCost` counts them) the store holds in memory now, and the most it ever held. */
  memoryBytes: number;
  peakMemoryBytes: number;
  /** Bytes of text on local disk now. */
  diskBytes: number;
}

export interface ChunkStore {
  /** Text `i`, exactly as stored in `cold`. Rejects for an id out of range. */
  get(i: number): Promise<string>;
  stats(): TierStats;
  /** Waits for work in flight and removes the store's own files; `cold` stays open. */
  close(): Promise<void>;
}
