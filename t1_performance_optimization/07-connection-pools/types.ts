/** The records and store interface every variant of this lesson shares (before, after, exercise). */

/** A chunk as every store returns it. */
export interface ChunkRecord {
  id: string;
  docId: string;
  position: number;
  title: string;
  text: string;
}

export interface ChunkStore {
  readonly kind: 'redis' | 'http' | 'pg';
  /** The record, or null when there is no chunk with this id. Rejects on a backend error (connection released). */
  get(id: string): Promise<ChunkRecord | null>;
  /** Close every connection the store holds. */
  close(): Promise<void>;
}

export interface StoreOptions {
  /**
   * Most connections the store keeps open at once. Default 10. The naive stores (before.ts) ignore it: one
   * connection per call in flight. The pooled Redis store always uses one auto-pipelined connection.
   */
  max?: number;
  /**
   * The label connections carry server-side, so they can be counted: Redis CLIENT SETNAME, Postgres
   * application_name. Default 'lab07'.
   */
  name?: string;
}
