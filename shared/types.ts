/**
 * The small interfaces the RAG engine's stages talk through. Each stage lives in its own folder
 * (corpus, text, embed, index, retrieve, answer, eval); `engine.ts` wires them together.
 */

/** Metadata values a document carries and a filter can test. */
export type MetaValue = string | number | boolean;
export type Metadata = Record<string, MetaValue>;

/** A source document as a user hands it to `ingest`. */
export interface Doc {
  id: string;
  text: string;
  title?: string;
  metadata?: Metadata;
}

/** A retrieval unit cut from a document. `id` is a content hash, stable across runs. */
export interface Chunk {
  id: string;
  docId: string;
  /** 0-based position of the chunk within its document. */
  position: number;
  text: string;
  title?: string;
  /** Approximate token count (analyzer-independent whitespace/punctuation tokens). */
  tokens: number;
  metadata: Metadata;
}

/** A test query with an id (BEIR layout). */
export interface Query {
  id: string;
  text: string;
}

/** Relevance judgements: query id → document id → grade (> 0 relevant). */
export type Qrels = Map<string, Map<string, number>>;

/** Batch-first, async embedder: one Float32Array row per input text (rows may share one buffer). */
/** What a caller may tell an embedder about one `embed` call (embedders that queue work use it; others ignore it). */
export interface EmbedOptions {
  /** Aborted when the caller stops waiting (a deadline, a client gone): queued work is dropped. */
  signal?: AbortSignal;
  /** 'interactive' (a query: someone waits) or 'bulk' (ingest). Default: interactive for one text, bulk for more. */
  priority?: 'interactive' | 'bulk';
}

export interface Embedder {
  readonly name: string;
  readonly dim: number;
  embed(texts: string[], opts?: EmbedOptions): Promise<Float32Array[]>;
  /** Learn corpus statistics (e.g. the principal component to remove). Optional. */
  fit?(texts: string[]): Promise<void>;
  /** Serializable state learned by `fit`, restored by `restore`, so a reload does not refit. */
  state?(): unknown;
  restore?(state: unknown): void;
}

/** A scored hit from an index: `label` is the engine's numeric id for a chunk. Higher score = more similar. */
export interface ScoredLabel {
  label: number;
  score: number;
}

/** Filter on labels, evaluated during search. */
export type LabelFilter = (label: number) => boolean;

export interface VectorIndex {
  readonly kind: string;
  readonly dim: number;
  /** Number of live (not deleted) vectors. */
  readonly size: number;
  add(labels: number[], vectors: Float32Array[]): void;
  remove(labels: number[]): void;
  /**
   * Top-k by similarity (cosine for normalised vectors), best first. `ef`: for approximate indexes, the search beam
   * width for this call only (raised to k); exact indexes ignore it.
   */
  search(query: Float32Array, k: number, filter?: LabelFilter, ef?: number): ScoredLabel[];
  /** Optional: the top k of the given labels by exact similarity (for a filter that leaves few candidates). */
  searchAmong?(query: Float32Array, labels: ArrayLike<number>, k: number): ScoredLabel[];
  /**
   * Optional staging, for writers that insert a batch a slice at a time: `stage` inserts vectors no search returns,
   * `reveal` makes them searchable (cheaply, all at once), `discard` drops them. Without it a writer `add`s at once.
   */
  stage?(labels: number[], vectors: Float32Array[]): void;
  reveal?(labels: number[]): void;
  discard?(labels: number[]): void;
  save(file: string): Promise<void>;
  load(file: string): Promise<void>;
}
