/**
 * The interface of every version of 07-versions (before, after, exercise, wrong/*): an index of documents with its
 * whole version history, in the engine's terms. A version is what one write makes, exactly as in the service
 * (shared/serve/writes.ts): every `WriteOp` — an ingest of documents (a document whose id is indexed already is
 * replaced) or a delete by id — produces the next version, 1, 2, 3, …; version 0 is the empty index.
 */
import type { ChunkOptions } from '../../shared/corpus/chunk.ts';
import type { WriteOp } from '../../shared/serve/writes.ts';
import type { Doc, Embedder } from '../../shared/types.ts';

export type { WriteOp } from '../../shared/serve/writes.ts';

export interface HistoryOptions {
  /** Embeds chunks and queries; fitted already (the history never fits it). */
  embedder: Embedder;
  /** How documents are cut into chunks. Default: the engine's (200 / 40 tokens). */
  chunk?: ChunkOptions;
}

/** A dense hit, as the engine's `query(text, { mode: 'dense' })` returns it. */
export interface AsOfHit {
  chunkId: string;
  docId: string;
  position: number;
  text: string;
  /** Cosine similarity with the query. */
  score: number;
}

export interface AsOfQuery {
  /** Answer from the index as it was at this version. Default: the latest. */
  asOf?: number;
  /** Number of hits. Default 10. */
  k?: number;
}

export interface VersionedIndex {
  /** The latest version (0 before the first write). */
  readonly version: number;
  /** Applies one write; resolves with the version it made (the previous version + 1). */
  apply(op: WriteOp): Promise<number>;
  /**
   * The top-k chunks by cosine similarity with the query, among the chunks of the documents as they were at `asOf`:
   * the hits an engine built from that version's documents alone would return. Rejects a version that does not exist.
   */
  query(text: string, opts?: AsOfQuery): Promise<AsOfHit[]>;
  /** Document `id` as it was at `asOf` (default: the latest), or undefined if it did not exist then. */
  document(id: string, asOf?: number): Doc | undefined;
  /**
   * Makes a new version whose documents (and so its query results) are exactly those of version `to`; every
   * version before keeps answering as it did. Resolves with the new version.
   */
  rollback(to: number): Promise<number>;
}
