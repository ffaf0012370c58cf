/**
 * The RAG engine: ingest → chunk → analyse + embed → BM25 and vector indexes → hybrid retrieval → cited answer.
 *
 *     const engine = await createEngine();
 *     await engine.ingest(await loadBrown());
 *     const { hits, answer, timings } = await engine.query('jury investigation of the election', { k: 5 });
 *     await engine.save('indexes/brown');                // later: await loadEngine('indexes/brown')
 */
import { mkdir, open, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { extractiveAnswerFromTable, type Answer, type ExtractiveOptions } from './answer/extractive.ts';
import { SentenceTable } from './answer/sentence-table.ts';
import { ChunkStore, encodeIndex, type WrittenStore } from './answer/chunk-store.ts';
import { DocTable } from './answer/doc-table.ts';
import { completeChat, llmConfigFromEnv, type LlmConfig } from './answer/llm.ts';
import { chunkDocumentSteps, indexText, validateDoc } from './corpus/chunk.ts';
import { diffChunks, type ChunkPair } from './corpus/diff.ts';
import { createDefaultEmbedder, isZeroVector } from './embed/sif.ts';
import { RagError } from './errors.ts';
import { Bm25Index } from './index/bm25.ts';
import { FlatIndex } from './index/flat.ts';
import { HnswIndex } from './index/hnsw.ts';
import { CompactHnswIndex } from './index/hnsw-i8.ts';
import { loadIndexFile } from './index/mmap.ts';
import { compileFilter, validateFilter, type MetadataFilter } from './retrieve/filter.ts';
import { MetadataIndex } from './retrieve/metadata-index.ts';
import { fuse, type FusionOptions } from './retrieve/fusion.ts';
import { createAnalyzer, type Analyzer } from './text/analyzer.ts';
import type { Chunk, Doc, Embedder, LabelFilter, Metadata, ScoredLabel, VectorIndex } from './types.ts';
import { TimeSlicer } from './util/slices.ts';
import { fileChecksum, fsyncDir, fsyncFile } from './util/durable-fs.ts';

export type RetrievalMode = 'bm25' | 'dense' | 'hybrid';
export const RETRIEVAL_MODES: readonly RetrievalMode[] = ['bm25', 'dense', 'hybrid'];

export interface VectorIndexConfig {
  /**
   * 'hnsw-i8' (approximate, HNSW over int8-quantised vectors: about 250 bytes a vector with its graph), 'hnsw'
   * (approximate, hnswlib, float32: about 650) or 'flat' (exact). Default 'hnsw-i8' (why: shared/index/README.md,
   * "Memory at 1M chunks").
   */
  kind?: VectorKind;
  /** HNSW graph degree. Default 16. */
  M?: number;
  /** HNSW build-time beam width. Default 200. */
  efConstruction?: number;
  /** HNSW search beam width (raised to the candidate depth when that is larger). Default 160 (see index/hnsw.ts). */
  efSearch?: number;
}

export interface EngineConfig {
  /** Embedder; default: SIF-weighted GloVe-100 (`createDefaultEmbedder`). */
  embedder?: Embedder;
  vector?: VectorIndexConfig;
  /** BM25 parameters. Defaults k1 = 1.2, b = 0.75 (see shared/index/bm25.ts). */
  bm25?: { k1?: number; b?: number };
  /** Chunking bounds in tokens. Defaults maxTokens 200, overlapTokens 40. */
  chunk?: { maxTokens?: number; overlapTokens?: number };
  /** How hybrid mode fuses the BM25 and dense lists. Default: see DEFAULT_FUSION. */
  fusion?: FusionOptions;
  /**
   * How many candidates each retriever returns before fusion. Default 20: on Cranfield (k = 10) it ranks almost as
   * well as 100, and at 100k chunks a hybrid query with its answer costs much less than at 100 (`npm run eval`,
   * `npm run bench:query`; figures in the main README, "Retrieval quality").
   */
  candidates?: number;
  /**
   * HNSW beam width for the dense list of a hybrid query (raised to `candidates`). Default 24; dense-only queries use
   * the index's own `efSearch` (160, or the beam `npm run index` calibrated and saved with a large index:
   * shared/index/calibrate.ts), where recall of the list itself is what the caller sees.
   */
  hybridEf?: number;
  /** Answer options (extractive). */
  answer?: ExtractiveOptions;
  /** Chat model for answers. Default: from LLM_BASE_URL etc.; `null` disables it even when the variable is set. */
  llm?: LlmConfig | null;
  /** Where the embedder keeps its vector cache. Default: env RAG_CACHE_DIR or <repo>/.cache. */
  cacheDir?: string;
  /** Progress lines for long work (ingest of many chunks, cache builds). Default: silent. */
  log?: (msg: string) => void;
  /**
   * Ingest works in slices of about this many ms and lets the event loop run between them (queries keep being
   * answered during a long ingest; see `ingest`). Default 4; 0 pauses at every step. Not saved with the index.
   */
  ingestSliceMs?: number;
  /**
   * While queries keep arriving, an ingest takes at most this share of the thread's time (its slices are followed by
   * proportionally longer pauses), so a stream of large ingests costs queries at most about 1 / (1 − share) in latency;
   * with no query running it goes at full speed. Default 0.2; 1 = no limit. Not saved with the index.
   */
  ingestShare?: number;
  /**
   * A metadata filter matching at most this many chunks ranks them by exact dense similarity instead of a filtered
   * HNSW walk (which visits most of the graph to find few matches). Default: √(beam × chunks), at least 256 — where
   * the two cost about the same (shared/serve/README.md, "Bounded cost"). Not saved with the index.
   */
  exactFilterLimit?: number;
}

/**
 * Hybrid defaults, tuned on Cranfield only: weighted normalised-score fusion with BM25 weighted above the dense
 * list (see README "Retrieval quality").
 */
export const DEFAULT_FUSION: Required<FusionOptions> = { method: 'weighted', rrfK: 60, weights: [1, 0.3] };

export const LIMITS = { maxQueryChars: 4096, maxK: 1000, maxDocChars: 5_000_000 } as const;

export interface QueryOptions {
  /** Number of hits. Default 10, at most 1000. */
  k?: number;
  /** Default 'hybrid'. */
  mode?: RetrievalMode;
  /** Metadata filter, e.g. { genre: 'news' } (see retrieve/filter.ts). */
  filter?: MetadataFilter;
  /** Build an answer from the hits. Default true. */
  answer?: boolean;
  /**
   * Aborted when the caller stops waiting (the service's deadline): an embedder that queues work (the ONNX model,
   * shared/model/served-model.ts) drops the query's embedding while it waits, and the query rejects.
   */
  signal?: AbortSignal;
}

export interface Hit {
  rank: number;
  chunkId: string;
  docId: string;
  score: number;
  /** Each retriever's own score for this chunk (BM25 score; cosine similarity), where it returned it. */
  scores: { bm25?: number; dense?: number };
  title?: string;
  text: string;
  position: number;
  metadata: Metadata;
}

/** Milliseconds spent per stage; stages that did not run are absent. */
export interface Timings {
  analyze?: number;
  bm25?: number;
  embed?: number;
  dense?: number;
  fuse?: number;
  answer?: number;
  total: number;
}

export interface QueryResult {
  hits: Hit[];
  answer?: Answer;
  timings: Timings;
}

export interface IngestResult {
  documents: number;
  /** Chunks of the documents ingested (their new versions). */
  chunks: number;
  /** Of those, the chunks analysed and embedded: new documents' chunks and the chunks of replaced ones that changed. */
  embedded: number;
  /**
   * Chunks of replaced documents that kept their label, postings and vector, because the version they replace has a
   * chunk indexed under the same text (title and chunk text) and the metadata did not change: `chunks = embedded +
   * reused`.
   */
  reused: number;
  /** Documents that replaced an earlier version with the same id. */
  replaced: number;
  ms: number;
  /** Milliseconds per stage: chunking, fitting the embedder (first batch only), embedding, BM25, vector index. */
  stages: { chunk: number; fit: number; embed: number; bm25: number; vectors: number };
}

/** What `Engine.memory()` counts: bytes per structure and part, and how each was counted. */
export interface EngineMemory {
  chunks: number;
  parts: { structure: string; part: string; bytes: number; how: string }[];
}

export interface EngineStats {
  documents: number;
  chunks: number;
  /** Ingest batches accepted and not finished (the one running and the ones waiting behind it). */
  ingestsInFlight: number;
  vectorIndex: string;
  embedder: string;
  dim: number;
}

/** A document of an ingest batch: its new chunks, and for each the label it keeps or gets. */
interface DocPlan {
  doc: Doc;
  chunks: Chunk[];
  /** Label per chunk: one kept from the version replaced, a new one once prepared, −1 before. */
  labels: number[];
  /** Chunks keeping a label of the version replaced. */
  kept: number;
  /** Their positions. */
  keptAt: number[];
  /** Labels of the version replaced that go (when `kept` > 0; otherwise the whole old version goes). */
  dropped: number[];
  /** Kept chunks whose stored chunk changes (position and id), by position, with the sentence row they keep. */
  moved: Map<number, Int32Array | undefined>;
}

/** A chunk to analyse and embed under a new label: position `at` of `plan.chunks`, indexed under `text`. */
interface FreshChunk {
  plan: DocPlan;
  at: number;
  text: string;
}

/** New labels prepared by an ingest so far (in order), and how far each step got, to undo on failure. */
interface Prepared {
  labels: number[];
  /** Vectors for the commit, when the vector index cannot stage. */
  vectors: Float32Array[];
  /** Labels (from the first) whose postings and sentences are written. */
  prepared: number;
  /** Labels (from the first) whose vectors are staged. */
  placed: number;
  staged: boolean;
}

interface EngineState {
  nextLabel: number;
  fitted: boolean;
}

const FORMAT = 'rag-engine';
/** 2: chunks and sentence rows in chunks.bin (read by offset), documents in documents.jsonl. 1 is still read. */
const FORMAT_VERSION = 2;
/** Chunks analysed and embedded per step of an ingest (the time slices pause between and inside steps). */
const INGEST_STEP = 8;

export class Engine {
  readonly analyzer: Analyzer;
  /** Per-chunk sentence analysis for answers (answer/sentence-table.ts). */
  private readonly sentences: SentenceTable;
  /** The chunks and their sentence rows: on disk (read by offset) once saved, in memory until then. */
  private store: ChunkStore;
  /** Documents: id, metadata, chunk labels (answer/doc-table.ts). */
  private readonly docs = new DocTable();
  private readonly fusion: Required<FusionOptions>;
  private readonly candidates: number;
  private readonly hybridEf: number;
  private readonly llm: LlmConfig | undefined;
  private readonly log: (msg: string) => void;
  private state: EngineState = { nextLabel: 0, fitted: false };
  /** Ingests run one at a time, in call order (`exclusive`): the tail of that queue. */
  private writeTail: Promise<unknown> = Promise.resolve();
  private ingestsQueued = 0;
  private compacting = false;
  /** Postings per metadata value, built on the first filtered query and kept up to date from then on. */
  private meta: MetadataIndex | undefined;
  private readonly sliceMs: number;
  private readonly ingestShare: number;
  private readonly exactFilterLimit: number | undefined;
  /** Queries started so far, and as last seen by an ingest (an ingest yields more time while the count moves). */
  private queriesStarted = 0;
  private queriesSeen = 0;
  /** Labels a metadata filter looked at, over all queries (tests count them: a filter matching nothing looks at 0). */
  filterLabelsExamined = 0;

  constructor(
    readonly config: EngineConfig,
    readonly embedder: Embedder,
    readonly bm25: Bm25Index,
    readonly vectors: VectorIndex,
    sentences?: SentenceTable,
    store?: ChunkStore,
  ) {
    this.analyzer = createAnalyzer();
    this.store = store ?? new ChunkStore();
    // dead postings are dropped in slices by the engine (compactWhenDue), not in one stall inside a remove
    bm25.autoCompact = false;
    this.sentences = sentences ?? new SentenceTable();
    this.fusion = { ...DEFAULT_FUSION, ...config.fusion } as Required<FusionOptions>;
    this.candidates = config.candidates ?? 20;
    this.hybridEf = config.hybridEf ?? 24;
    this.llm = config.llm === null ? undefined : (config.llm ?? llmConfigFromEnv());
    this.log = config.log ?? (() => {});
    this.sliceMs = config.ingestSliceMs ?? 4;
    this.ingestShare = config.ingestShare ?? 0.2;
    this.exactFilterLimit = config.exactFilterLimit;
    if (!(this.sliceMs >= 0)) throw new RagError('INVALID_INPUT', `ingestSliceMs must be >= 0, got ${config.ingestSliceMs}`);
    if (!(this.ingestShare > 0 && this.ingestShare <= 1)) {
      throw new RagError('INVALID_INPUT', `ingestShare must be in (0, 1], got ${config.ingestShare}`);
    }
  }

  /** Number of live documents and chunks, and what indexes them. */
  stats(): EngineStats {
    return {
      documents: this.docs.size,
      chunks: this.bm25.size,
      ingestsInFlight: this.ingestsQueued,
      vectorIndex: this.vectors.kind,
      embedder: this.embedder.name,
      dim: this.embedder.dim,
    };
  }

  /**
   * Bytes the engine's structures hold, counted from the structures themselves (typed-array byteLength, native index
   * layout, string lengths), by structure and part. JS object and Map/Set entry overheads are not in these counts;
   * `npm run bench:memory` measures them (heap and RSS growth while each structure loads) and prints both.
   */
  memory(): EngineMemory {
    const parts: EngineMemory['parts'] = [];
    const add = (structure: string, list: { part: string; bytes: number; how: string }[] | undefined) => {
      for (const p of list ?? []) parts.push({ structure, ...p });
    };
    const v = this.vectors as VectorIndex & { memory?(): { part: string; bytes: number; how: string }[] };
    add('vectors', v.memory?.());
    add('bm25', this.bm25.memory());
    add('sentence table', this.sentences.memory());
    const e = this.embedder as Embedder & { memory?(): { part: string; bytes: number; how: string }[] };
    add('embedder', e.memory?.());
    add('chunks', this.store.memory());
    add('documents', this.docs.memory());
    if (this.meta !== undefined) {
      const m = (this.meta as MetadataIndex & { memory?(): { part: string; bytes: number; how: string }[] }).memory?.();
      add('metadata index', m);
    }
    return { chunks: this.bm25.size, parts };
  }

  /** The chunk stored under a label (for tools and tests). */
  chunk(label: number): Chunk | undefined {
    return this.store.get(label);
  }

  hasDocument(id: string): boolean {
    return this.docs.has(id);
  }


  /**
   * Adds documents; a document whose id is already indexed replaces the earlier version. The whole batch is
   * validated before anything changes, so a malformed document leaves the engine as it was.
   *
   * Incremental: a replacing version is chunked and its chunks paired with the ones the engine holds for that document
   * by the text they are indexed under (title and chunk text; `diffChunks` in corpus/diff.ts). A paired chunk keeps its
   * label, postings, vector and sentence row: only the new and changed chunks are analysed, embedded and inserted, and
   * only the chunks that went are removed, so a one-paragraph edit of a long document embeds a chunk or two. What a
   * query returns is what ingesting the new version from scratch gives (chunk ids, positions, title, metadata, scores);
   * a changed title changes every chunk's indexed text, and changed metadata re-indexes the whole document.
   * `onProgress(done, total)` counts the chunks embedded.
   *
   * Bounded cost for everyone else: ingests run one at a time in call order (one in flight per engine, later ones
   * wait), and each works in slices of `ingestSliceMs`, letting queries run in between. The batch is prepared off to
   * the side (chunked, analysed, embedded; its postings and vectors written under new labels that no search returns
   * yet) and committed in one synchronous step that makes the new chunks searchable and removes the versions they
   * replace, so a query sees the whole batch or none of it. A failure before the commit (an embedder error) leaves the
   * engine as it was.
   */
  async ingest(docs: readonly unknown[], onProgress?: (done: number, total: number) => void): Promise<IngestResult> {
    if (!Array.isArray(docs)) throw new RagError('INVALID_INPUT', 'ingest expects an array of documents');
    const byId = new Map<string, Doc>();
    docs.forEach((raw, i) => {
      const doc = validateDoc(raw, i);
      if (doc.text.length > LIMITS.maxDocChars) {
        throw new RagError('INVALID_INPUT', `document #${i} (${doc.id}): text over ${LIMITS.maxDocChars} characters`);
      }
      byId.set(doc.id, doc); // last version in a batch wins
    });
    this.ingestsQueued++;
    try {
      return await this.exclusive(() => this.ingestBatch(byId, onProgress));
    } finally {
      this.ingestsQueued--;
    }
  }

  /**
   * Runs `fn` once every ingest called before has finished; ingests called meanwhile wait until it is done. For work
   * that must not overlap a write (a snapshot of the indexes).
   */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.writeTail.then(fn, fn);
    this.writeTail = p.catch(() => {});
    return p;
  }

  /**
   * Drops the BM25 index's dead postings (left by removals and replacements) once they pass its compaction ratio, in
   * slices like an ingest's and in the same queue, instead of in one stall inside the remove that crossed the ratio.
   */
  private compactWhenDue(): void {
    if (this.compacting || !this.bm25.compactionDue) return;
    this.compacting = true;
    this.exclusive(async () => {
      try {
        const slices = new TimeSlicer(this.sliceMs, { share: this.ingestShare, busy: () => this.queriedSinceLastLook() });
        await slices.drive(this.bm25.compactSteps());
      } finally {
        this.compacting = false;
      }
    }).catch((err) => this.log(`BM25 compaction failed: ${(err as Error).message}`));
  }

  /** Until queued writes and compactions are done (tests, tools). */
  async idle(): Promise<void> {
    while (this.ingestsQueued > 0 || this.compacting) await this.exclusive(async () => {});
  }

  private async ingestBatch(byId: Map<string, Doc>, onProgress?: (done: number, total: number) => void): Promise<IngestResult> {
    const t0 = performance.now();
    const slices = new TimeSlicer(this.sliceMs, { share: this.ingestShare, busy: () => this.queriedSinceLastLook() });
    const stages = { chunk: 0, fit: 0, embed: 0, bm25: 0, vectors: 0 };
    let t = performance.now();
    // chunk every document; a document already held is paired with its indexed version, chunk by chunk (`planReplace`)
    const plans: DocPlan[] = [];
    const fresh: FreshChunk[] = [];
    let total = 0;
    for (const doc of byId.values()) {
      const chunks = await slices.drive(chunkDocumentSteps(doc, this.config.chunk));
      total += chunks.length;
      const plan = await this.planReplace(doc, chunks, slices);
      plans.push(plan);
      plan.chunks.forEach((c, n) => {
        if (plan.labels[n] < 0) fresh.push({ plan, at: n, text: indexText(c) });
      });
      await slices.check();
    }
    stages.chunk = performance.now() - t;

    if (!this.state.fitted && this.embedder.fit && fresh.length > 0) {
      this.log(`fitting ${this.embedder.name} on ${fresh.length} chunks`);
      t = performance.now();
      await this.embedder.fit(fresh.map((f) => f.text));
      this.state.fitted = true;
      stages.fit = performance.now() - t;
    }

    // prepare off to the side: new labels, invisible to searches until the commit below
    const prep: Prepared = { labels: [], vectors: [], prepared: 0, placed: 0, staged: this.vectors.stage !== undefined && this.vectors.reveal !== undefined };
    try {
      await this.prepareChunks(fresh, prep, slices, stages, onProgress);
      // A document whose chunks were to keep their labels may have been removed meanwhile (`remove` does not wait for
      // an ingest): its kept chunks are then prepared like new ones, until no such document is left. From that check to
      // the end of the commit nothing awaits.
      for (;;) {
        const more: FreshChunk[] = [];
        for (const plan of plans) {
          if (plan.kept === 0 || this.docs.has(plan.doc.id)) continue;
          for (const n of plan.keptAt) more.push({ plan, at: n, text: indexText(plan.chunks[n]) });
          plan.keptAt = [];
          plan.dropped = [];
          plan.moved.clear();
          plan.kept = 0;
        }
        if (more.length === 0) break;
        await this.prepareChunks(more, prep, slices, stages, onProgress);
      }
    } catch (err) {
      for (let j = 0; j < prep.prepared; j++) {
        this.bm25.discard(prep.labels[j]);
        this.sentences.remove(prep.labels[j]);
      }
      if (prep.placed > 0) this.vectors.discard?.(prep.labels.slice(0, prep.placed));
      throw err;
    }

    // commit: one synchronous step, so no query sees part of the batch
    t = performance.now();
    let replaced = 0;
    let reused = 0;
    for (const plan of plans) {
      const id = plan.doc.id;
      if (plan.kept === 0) {
        if (this.removeDocument(id)) replaced++;
        continue;
      }
      // the document keeps some labels: drop the chunks that went, restore the ones that only moved (new position, id)
      const slot = this.docs.slot(id);
      const view = { docId: '', metadata: this.docs.metadata(slot) } as unknown as Chunk;
      this.docs.delete(id);
      this.dropLabels(plan.dropped, view);
      for (const [n, row] of plan.moved) this.store.set(plan.labels[n], plan.chunks[n], row);
      replaced++;
      reused += plan.kept;
    }
    for (const plan of plans) {
      const { doc, chunks, labels } = plan;
      const metadata = chunks.length > 0 ? chunks[0].metadata : { ...doc.metadata };
      // one run of labels for a new document; runs for one that kept some; none without text (but known: remove() finds it)
      if (chunks.length === 0) this.docs.add(doc.id, metadata, 0, 0);
      else this.docs.addLabels(doc.id, metadata, labels);
      for (let n = 0; n < chunks.length; n++) {
        const label = labels[n];
        if (!this.bm25.isPending(label)) continue; // kept from the version replaced
        this.store.set(label, chunks[n], this.sentences.take(label));
        this.bm25.reveal(label);
        if (this.meta) this.meta.add(label, this.metaView(label)!);
      }
    }
    if (prep.labels.length > 0) {
      if (prep.staged) this.vectors.reveal!(prep.labels);
      else this.vectors.add(prep.labels, prep.vectors);
    }
    stages.vectors += performance.now() - t;
    this.compactWhenDue();
    return { documents: byId.size, chunks: total, embedded: prep.labels.length, reused, replaced, ms: performance.now() - t0, stages };
  }

  /**
   * How a document of an ingest batch goes in. A new one: every chunk new. One already held: its new chunks are paired
   * with the chunks it holds now by the text they are indexed under (`diffChunks`); a paired chunk keeps its label, and
   * so its postings, vector and sentence row (whatever the chunk is indexed, embedded and split into sentences under is
   * that text, title included); one that moved (new position, so new id) has its stored chunk replaced at the commit.
   * Unpaired new chunks get new labels; unpaired old ones are dropped. Everything is re-indexed when the metadata
   * changed (the filter postings hold it per label), when the text of a pair differs (it cannot, as chunk text has no
   * newline; checked anyway), or when an old chunk cannot be read. Reading the old chunks pauses between slices; a
   * document removed meanwhile is then new.
   */
  private async planReplace(doc: Doc, chunks: Chunk[], slices: TimeSlicer): Promise<DocPlan> {
    const plan: DocPlan = { doc, chunks, labels: new Array<number>(chunks.length).fill(-1), kept: 0, keptAt: [], dropped: [], moved: new Map() };
    const slot = this.docs.slot(doc.id);
    if (slot < 0 || chunks.length === 0 || this.docs.count(slot) === 0) return plan;
    if (JSON.stringify(this.docs.metadata(slot)) !== JSON.stringify(chunks[0].metadata)) return plan;
    const oldLabels = this.docs.labels(slot);
    const old: Chunk[] = [];
    for (const label of oldLabels) {
      const c = this.store.get(label);
      if (c === undefined) return plan;
      old.push(c);
      if (slices.due()) {
        await slices.pause();
        if (this.docs.slot(doc.id) !== slot) return plan; // removed meanwhile (and no ingest can add it back)
      }
    }
    const d = diffChunks(old, chunks);
    const keep = (p: ChunkPair, moved: boolean) => {
      if (old[p.old].text !== chunks[p.next].text) return false;
      plan.labels[p.next] = oldLabels[p.old];
      // a moved chunk is stored again at the commit, with the sentence row it has now (read before the store drops it)
      if (moved) plan.moved.set(p.next, this.store.row(oldLabels[p.old]));
      plan.kept++;
      plan.keptAt.push(p.next);
      return true;
    };
    const kept = new Uint8Array(old.length);
    for (const p of d.same) if (keep(p, false)) kept[p.old] = 1;
    for (const p of d.moved) if (keep(p, true)) kept[p.old] = 1;
    for (let o = 0; o < old.length; o++) if (kept[o] === 0) plan.dropped.push(oldLabels[o]);
    return plan;
  }

  /**
   * Analyses and embeds chunks under new labels no search returns yet (postings staged, sentences added, vectors staged
   * or held for the commit), in slices; records what it did in `prep` so a failure can undo it.
   */
  private async prepareChunks(
    items: FreshChunk[],
    prep: Prepared,
    slices: TimeSlicer,
    stages: IngestResult['stages'],
    onProgress?: (done: number, total: number) => void,
  ): Promise<void> {
    const base = prep.labels.length;
    for (const item of items) {
      const label = this.state.nextLabel++;
      item.plan.labels[item.at] = label;
      prep.labels.push(label);
    }
    let t: number;
    for (let i = 0; i < items.length; i += INGEST_STEP) {
      const end = Math.min(i + INGEST_STEP, items.length);
      t = performance.now();
      for (let j = i; j < end; j++) {
        const label = prep.labels[base + j];
        this.bm25.stage(label, this.analyzer.analyze(items[j].text));
        this.sentences.add(label, items[j].plan.chunks[items[j].at].text, this.analyzer);
        prep.prepared = base + j + 1;
        if (slices.due()) {
          stages.bm25 += performance.now() - t;
          await slices.pause();
          t = performance.now();
        }
      }
      stages.bm25 += performance.now() - t;
      t = performance.now();
      const batch = await this.embedder.embed(items.slice(i, end).map((f) => f.text), { priority: 'bulk' });
      stages.embed += performance.now() - t;
      await slices.check();
      t = performance.now();
      for (let j = i; j < end; j++) {
        if (!prep.staged) {
          prep.vectors.push(batch[j - i]);
          continue;
        }
        await this.vectorsIdle();
        this.vectors.stage!([prep.labels[base + j]], [batch[j - i]]);
        prep.placed = base + j + 1;
        if (slices.due()) {
          stages.vectors += performance.now() - t;
          await slices.pause();
          t = performance.now();
        }
      }
      stages.vectors += performance.now() - t;
      onProgress?.(base + end, base + items.length);
    }
    await this.vectorsIdle();
  }

  /** True when a query started since the last call (an ingest then leaves the thread to queries for longer). */
  private queriedSinceLastLook(): boolean {
    const moved = this.queriesStarted !== this.queriesSeen;
    this.queriesSeen = this.queriesStarted;
    return moved;
  }

  /** Until the vector index has no save in progress (its file is written from another thread: no insert meanwhile). */
  private async vectorsIdle(): Promise<void> {
    const v = this.vectors as VectorIndex & { saving?: Promise<unknown> };
    while (v.saving !== undefined) await v.saving.catch(() => {});
  }

  /** Removes documents by id; returns how many were present. */
  remove(ids: readonly string[]): { removed: number } {
    if (!Array.isArray(ids) || ids.some((id) => typeof id !== 'string' || id.length === 0)) {
      throw new RagError('INVALID_INPUT', 'remove expects an array of non-empty document ids');
    }
    let removed = 0;
    for (const id of ids) if (this.removeDocument(id)) removed++;
    this.compactWhenDue();
    return { removed };
  }

  private removeDocument(id: string): boolean {
    const slot = this.docs.slot(id);
    if (slot < 0) return false;
    const labels = this.docs.labels(slot);
    const view = { docId: '', metadata: this.docs.metadata(slot) } as unknown as Chunk;
    // out of the table first: the metadata postings drop a label once no document holds it
    this.docs.delete(id);
    this.dropLabels(labels, view);
    return true;
  }

  /** Removes chunks from every index and the store (their document is already out of the table). */
  private dropLabels(labels: ArrayLike<number>, view: Chunk): void {
    for (let i = 0; i < labels.length; i++) {
      const label = labels[i];
      // a compacted (or loaded) label has no forward list in BM25: its terms come from its text, analysed again
      let tokens: string[] | undefined;
      if (this.bm25.needsTokens(label)) {
        const chunk = this.store.get(label);
        if (chunk !== undefined) tokens = this.analyzer.analyze(indexText(chunk));
      }
      this.bm25.remove(label, tokens);
      this.sentences.remove(label);
      this.store.delete(label);
      this.meta?.remove(view);
    }
    if (labels.length > 0) this.vectors.remove(Array.from(labels));
  }

  /** Retrieves the top-k chunks for a query and (unless `answer: false`) builds a cited answer from them. */
  async query(text: string, opts: QueryOptions = {}): Promise<QueryResult> {
    const t0 = performance.now();
    this.queriesStarted++;
    const { k, mode, filter, wantAnswer } = validateQuery(text, opts);
    const timings: Timings = { total: 0 };
    // The query vector first (the one await before the answer): from there to the hits everything is synchronous, so
    // a query sees the indexes between two writes, never in the middle of a commit (see `ingest`). A filter that
    // cannot match (a key with no posting) needs no vector.
    let vector: Float32Array | undefined;
    if (mode !== 'bm25') {
      const t = performance.now();
      if (!(filter && this.filterCannotMatch(filter))) [vector] = await this.embedder.embed([text], { signal: opts.signal, priority: 'interactive' });
      timings.embed = performance.now() - t;
    }
    // a filter is answered from the metadata postings first: the chunks it allows, or none (then no index is searched)
    const allowed = filter ? this.filterLabels(filter) : undefined;
    const nothing = allowed !== undefined && allowed.labels.length === 0;
    const depth = Math.max(k, mode === 'hybrid' ? this.candidates : k);
    let bm25Hits: ScoredLabel[] = [];
    let denseHits: ScoredLabel[] = [];

    if (mode !== 'dense') {
      let t = performance.now();
      const terms = nothing ? [] : this.analyzer.analyze(text);
      timings.analyze = performance.now() - t;
      t = performance.now();
      bm25Hits = terms.length > 0 ? this.bm25.search(terms, depth, allowed?.test) : [];
      timings.bm25 = performance.now() - t;
    }
    if (mode !== 'bm25') {
      const t = performance.now();
      const ef = mode === 'hybrid' ? Math.max(this.hybridEf, depth) : undefined;
      if (nothing || vector === undefined || isZeroVector(vector)) denseHits = [];
      else if (allowed !== undefined && allowed.labels.length <= this.exactLimit(ef) && this.vectors.searchAmong) {
        denseHits = this.vectors.searchAmong(vector, allowed.labels, depth);
      } else denseHits = this.vectors.search(vector, depth, allowed?.test, ef);
      timings.dense = performance.now() - t;
    }

    let hits: Hit[];
    let labels: number[];
    if (mode === 'hybrid') {
      const t = performance.now();
      const fused = fuse([bm25Hits, denseHits], this.fusion).slice(0, k);
      hits = fused.map((f, i) => this.toHit(f.label, f.score, i, { bm25: f.sources[0], dense: f.sources[1] }));
      labels = fused.map((f) => f.label);
      timings.fuse = performance.now() - t;
    } else {
      const list = (mode === 'bm25' ? bm25Hits : denseHits).slice(0, k);
      hits = list.map((h, i) => this.toHit(h.label, h.score, i, mode === 'bm25' ? { bm25: h.score } : { dense: h.score }));
      labels = list.map((h) => h.label);
    }

    let answer: Answer | undefined;
    if (wantAnswer) {
      const t = performance.now();
      answer = await this.answer(text, hits, labels);
      timings.answer = performance.now() - t;
    }
    timings.total = performance.now() - t0;
    return { hits, answer, timings };
  }

  private async answer(text: string, hits: Hit[], labels: number[]): Promise<Answer> {
    const n = Math.min(hits.length, this.config.answer?.fromHits ?? 3);
    const rows: Int32Array[] = new Array(n);
    for (let i = 0; i < n; i++) rows[i] = this.store.row(labels[i]) ?? this.sentences.row(labels[i], hits[i].text, this.analyzer);
    const extractive = extractiveAnswerFromTable(text, hits, rows, this.analyzer, this.sentences, (t) => this.bm25.idf(t), this.config.answer);
    if (!this.llm || hits.length === 0) return extractive;
    const context = hits.slice(0, this.config.answer?.fromHits ?? 5);
    try {
      const llmText = await completeChat(this.llm, text, context);
      return {
        text: llmText,
        citations: context.map((h) => ({ docId: h.docId, chunkId: h.chunkId })),
        sentences: [],
        source: 'llm',
      };
    } catch (err) {
      return { ...extractive, fallbackReason: (err as Error).message };
    }
  }

  /**
   * Up to how many allowed chunks a filtered dense search scores them exactly. An exact pass costs about the same per
   * chunk as a filtered graph walk costs per node it visits, and the walk visits about beam × chunks / allowed nodes
   * to find enough matches: the two meet near √(beam × chunks) (measured: shared/serve/README.md, "Bounded cost").
   */
  private exactLimit(ef: number | undefined): number {
    if (this.exactFilterLimit !== undefined) return this.exactFilterLimit;
    const beam = ef ?? (this.vectors as VectorIndex & { ef?: number }).ef ?? 160;
    return Math.max(256, Math.sqrt(beam * this.bm25.size));
  }

  /**
   * The chunks a filter allows, from the metadata postings (retrieve/metadata-index.ts): their labels, ascending, and
   * a bitmap test for the index searches. Same semantics as testing every chunk with `compileFilter`.
   */
  private filterLabels(filter: MetadataFilter): { labels: Int32Array; test: LabelFilter } {
    const { labels, examined } = this.matchFilter(filter);
    this.filterLabelsExamined += examined;
    const bits = new Uint32Array((this.state.nextLabel + 31) >>> 5);
    for (let i = 0; i < labels.length; i++) bits[labels[i] >>> 5] |= 1 << (labels[i] & 31);
    return { labels, test: (label) => (bits[label >>> 5] & (1 << (label & 31))) !== 0 };
  }

  /**
   * A filter's matching labels, ascending, and how many labels were looked at. A document id key is answered from
   * the document table (a document's chunks are one label range), the metadata keys from the metadata postings; each
   * candidate is tested against the whole filter.
   */
  private matchFilter(filter: MetadataFilter): { labels: Int32Array; examined: number } {
    const { docId, ...rest } = filter;
    const test = compileFilter(filter);
    if (docId === undefined) return this.filterIndex().match(rest, test as (c: Chunk) => boolean);
    const out: number[] = [];
    let examined = 0;
    for (const id of new Set(Array.isArray(docId) ? docId : [docId])) {
      const slot = typeof id === 'string' ? this.docs.slot(id) : -1;
      if (slot < 0) continue;
      for (const l of this.docs.labels(slot)) {
        examined++;
        if (test({ docId: id, metadata: this.docs.metadata(slot) } as unknown as Chunk)) out.push(l);
      }
    }
    return { labels: Int32Array.from(out).sort(), examined };
  }

  /** True when no chunk can match the filter (a document id that is not held, a metadata value no chunk has). */
  private filterCannotMatch(filter: MetadataFilter): boolean {
    const { docId, ...rest } = filter;
    if (docId !== undefined && !(Array.isArray(docId) ? docId : [docId]).some((id) => typeof id === 'string' && this.docs.has(id))) return true;
    return Object.keys(rest).length > 0 && this.filterIndex().cannotMatch(rest);
  }

  /**
   * The metadata postings, built from the document table on first use and kept up to date by every write after. They
   * hold metadata values only: document ids are answered from the document table (`matchFilter`), so the postings see
   * every chunk under one empty id (one list of all labels, not a list per document).
   */
  private filterIndex(): MetadataIndex {
    if (this.meta === undefined) {
      const meta = new MetadataIndex((label) => this.metaView(label));
      for (let label = 0; label < this.state.nextLabel; label++) {
        const view = this.metaView(label);
        if (view !== undefined) meta.add(label, view);
      }
      this.meta = meta;
    }
    return this.meta;
  }

  /** What the metadata postings see of a chunk: its metadata, under the one empty document id. */
  private metaView(label: number): Chunk | undefined {
    const slot = this.docs.slotOfLabel(label);
    return slot < 0 ? undefined : ({ docId: '', metadata: this.docs.metadata(slot) } as unknown as Chunk);
  }

  private toHit(label: number, score: number, rank: number, scores: Hit['scores']): Hit {
    const c = this.store.get(label);
    if (!c) throw new RagError('CORRUPT', `index returned label ${label}, which holds no chunk`);
    return {
      rank: rank + 1,
      chunkId: c.id,
      docId: c.docId,
      score,
      scores,
      title: c.title,
      text: c.text,
      position: c.position,
      metadata: c.metadata,
    };
  }

  /**
   * Writes the engine to `dir` (manifest, chunk store, document table, BM25 and vector indexes, sentence vocabulary,
   * embedder state) so a restart does not re-embed. Crash-safe: everything is written to a temporary folder, each file
   * fsync'd, the manifest (written last) records every file's size and CRC-32, the folder is fsync'd and renamed into
   * place, and the parent folder fsync'd. A crash leaves either the old `dir` or the new one whole, never a mix;
   * `loadEngine` checks the checksums. `opts.meta` is stored in the manifest as is (the service records the index
   * version a snapshot holds). Afterwards the engine reads its chunks from the new `dir/chunks.bin` (the ones held in
   * memory since the last save leave memory). Every file is written in pieces: no string or buffer holds the whole
   * chunk text, whatever the corpus size.
   */
  async save(dir: string, opts: { meta?: Record<string, unknown> } = {}): Promise<void> {
    const tmp = `${dir}.tmp-${process.pid}-${Date.now()}`;
    await mkdir(tmp, { recursive: true });
    let written: WrittenStore;
    try {
      written = await this.store.write(join(tmp, 'chunks.bin'));
      await writeFile(join(tmp, 'chunks.bin.idx'), encodeIndex(written));
      await this.writeDocuments(join(tmp, 'documents.jsonl'));
      await writeFile(join(tmp, 'bm25.bin'), this.bm25.serialize());
      await writeFile(join(tmp, 'sentences.bin'), this.sentences.serialize());
      await this.vectors.save(join(tmp, 'vectors.bin'));
      const files: Record<string, { bytes: number; crc32: number }> = {};
      for (const name of (await readdir(tmp)).sort()) {
        await fsyncFile(join(tmp, name));
        files[name] = await fileChecksum(join(tmp, name));
      }
      const manifest = {
        format: FORMAT,
        version: FORMAT_VERSION,
        savedAt: new Date().toISOString(),
        state: this.state,
        config: serializableConfig(this.config),
        embedder: { name: this.embedder.name, dim: this.embedder.dim, state: this.embedder.state?.() },
        vectorIndex: this.vectors.kind,
        stats: this.stats(),
        files,
        ...(opts.meta ? { meta: opts.meta } : {}),
      };
      await writeFile(join(tmp, 'manifest.json'), JSON.stringify(manifest, null, 1));
      await fsyncFile(join(tmp, 'manifest.json'));
      await fsyncDir(tmp);
      const old = `${dir}.old-${process.pid}-${Date.now()}`;
      if (existsSync(dir)) await rename(dir, old);
      await rename(tmp, dir);
      await fsyncDir(dirname(dir));
      await rm(old, { recursive: true, force: true });
    } catch (err) {
      await rm(tmp, { recursive: true, force: true });
      throw err;
    }
    this.store.adopt(written, join(dir, 'chunks.bin'));
  }

  /**
   * The document table as JSON lines: first the distinct metadata objects, then one line per document,
   * [id, metadata index, first label, chunk count], or [id, metadata index, [first, count, first, count, …]] for a
   * document whose labels are several runs (replaced incrementally). Written in pieces of about 1 MB.
   */
  private async writeDocuments(file: string): Promise<void> {
    const { metas, indexOf } = this.docs.metadataList();
    const fh = await open(file, 'w');
    try {
      let piece = JSON.stringify(metas) + '\n';
      for (const s of this.docs.slots()) {
        const runs = this.docs.runs(s);
        const where = runs.length > 2 ? [Array.from(runs)] : [this.docs.first(s), this.docs.count(s)];
        piece += JSON.stringify([this.docs.id(s), indexOf(s), ...where]) + '\n';
        if (piece.length > 1 << 20) {
          await fh.write(piece);
          piece = '';
        }
      }
      await fh.write(piece);
    } finally {
      await fh.close();
    }
  }

  /** @internal used by loadEngine */
  async restore(dir: string, manifest: Manifest): Promise<void> {
    this.state = { ...manifest.state };
    if (manifest.version === 1) return this.restoreV1(dir, manifest);
    const file = join(dir, 'documents.jsonl');
    const lines = (await readFile(file, 'utf8')).split('\n');
    const corrupt = (line: number, why: string) => new RagError('CORRUPT', `${file} line ${line}: ${why}`);
    let metas: Metadata[];
    try {
      metas = JSON.parse(lines[0]);
    } catch {
      throw corrupt(1, 'not JSON');
    }
    if (!Array.isArray(metas)) throw corrupt(1, 'not a list of metadata objects');
    for (let i = 1; i < lines.length; i++) {
      if (!lines[i]) continue;
      let row: [string, number, number | number[], number?];
      try {
        row = JSON.parse(lines[i]);
      } catch {
        throw corrupt(i + 1, 'not JSON');
      }
      if (!Array.isArray(row)) throw corrupt(i + 1, 'not a document entry');
      const [docId, m, where, count] = row;
      let runs: Int32Array | undefined;
      if (Array.isArray(where)) {
        // several runs of labels [first, count, …]: ascending, not touching, none empty
        const ok = where.length >= 2 && where.length % 2 === 0 && where.every((x, k) => Number.isInteger(x) && x >= 0 && (k % 2 === 0 || x > 0))
          && where.every((x, k) => k % 2 === 1 || k === 0 || x > where[k - 2] + where[k - 1]);
        if (!ok) throw corrupt(i + 1, 'label runs are not ascending [first, count] pairs');
        runs = Int32Array.from(where);
      } else if (!Number.isInteger(where) || !Number.isInteger(count) || count! < 0) throw corrupt(i + 1, 'not a document entry');
      if (typeof docId !== 'string' || metas[m] === undefined) throw corrupt(i + 1, 'not a document entry');
      const check = runs ?? (count! > 0 ? Int32Array.of(where as number, count!) : new Int32Array(0));
      for (let r = 0; r < check.length; r += 2) {
        for (let l = check[r]; l < check[r] + check[r + 1]; l++) {
          if (!this.store.has(l)) throw corrupt(i + 1, `label ${l} of ${docId} is not in chunks.bin`);
        }
      }
      if (this.docs.has(docId)) throw corrupt(i + 1, `document ${docId} is listed twice`);
      if (runs) this.docs.addRuns(docId, metas[m], runs);
      else this.docs.add(docId, metas[m], where as number, count!);
    }
  }

  /** An index saved in format 1: chunks in chunks.jsonl, sentence rows in sentences.bin, all read into memory. */
  private async restoreV1(dir: string, manifest: Manifest): Promise<void> {
    const text = await readFile(join(dir, 'chunks.jsonl'), 'utf8');
    let lineNo = 0;
    let doc: { id: string; metadata: Metadata; first: number; count: number } | undefined;
    const flush = () => {
      if (doc === undefined) return;
      if (this.docs.has(doc.id)) throw new RagError('CORRUPT', `${join(dir, 'chunks.jsonl')}: the chunks of ${doc.id} are not under consecutive labels`);
      this.docs.add(doc.id, doc.metadata, doc.first, doc.count);
    };
    for (const line of text.split('\n')) {
      lineNo++;
      if (!line) continue;
      let parsed: [number, Chunk];
      try {
        parsed = JSON.parse(line);
      } catch {
        throw new RagError('CORRUPT', `${join(dir, 'chunks.jsonl')} line ${lineNo} is not JSON`);
      }
      const [label, chunk] = parsed;
      this.store.set(label, chunk, this.sentences.take(label));
      if (doc === undefined || doc.id !== chunk.docId || label !== doc.first + doc.count) {
        flush();
        doc = { id: chunk.docId, metadata: chunk.metadata, first: label, count: 0 };
      }
      doc.count++;
    }
    flush();
    for (const id of manifest.documents ?? []) if (!this.docs.has(id)) this.docs.add(id, {}, 0, 0);
  }
}

interface Manifest {
  format: string;
  version: number;
  state: EngineState;
  documents?: string[];
  config: EngineConfig;
  embedder: { name: string; dim: number; state?: unknown };
  vectorIndex: string;
  /** Size and CRC-32 of every other file (indexes saved before checksums existed have none). */
  files?: Record<string, { bytes: number; crc32: number }>;
  meta?: Record<string, unknown>;
}

function serializableConfig(c: EngineConfig): EngineConfig {
  return { vector: c.vector, bm25: c.bm25, chunk: c.chunk, fusion: c.fusion, candidates: c.candidates, hybridEf: c.hybridEf, answer: c.answer };
}

function validateQuery(text: unknown, opts: QueryOptions) {
  if (typeof text !== 'string' || text.trim().length === 0) {
    throw new RagError('INVALID_INPUT', 'query must be a non-empty string');
  }
  if (text.length > LIMITS.maxQueryChars) {
    throw new RagError('INVALID_INPUT', `query is ${text.length} characters; the limit is ${LIMITS.maxQueryChars}`);
  }
  if (opts === null || typeof opts !== 'object') throw new RagError('INVALID_INPUT', 'query options must be an object');
  const k = opts.k ?? 10;
  if (!Number.isInteger(k) || k <= 0 || k > LIMITS.maxK) {
    throw new RagError('INVALID_INPUT', `k must be an integer from 1 to ${LIMITS.maxK}, got ${String(opts.k)}`);
  }
  const mode = opts.mode ?? 'hybrid';
  if (!RETRIEVAL_MODES.includes(mode)) {
    throw new RagError('INVALID_INPUT', `mode must be one of ${RETRIEVAL_MODES.join(', ')}, got "${String(mode)}"`);
  }
  return { k, mode, filter: validateFilter(opts.filter), wantAnswer: opts.answer ?? true };
}

export type VectorKind = 'hnsw-i8' | 'hnsw' | 'flat';

function makeVectorIndex(dim: number, cfg: VectorIndexConfig = {}): VectorIndex {
  const kind = cfg.kind ?? 'hnsw-i8';
  if (kind === 'flat') return new FlatIndex(dim);
  if (kind === 'hnsw') return new HnswIndex({ dim, M: cfg.M, efConstruction: cfg.efConstruction, efSearch: cfg.efSearch });
  if (kind === 'hnsw-i8') return new CompactHnswIndex({ dim, M: cfg.M, efConstruction: cfg.efConstruction, efSearch: cfg.efSearch });
  throw new RagError('INVALID_INPUT', `vector.kind must be 'hnsw-i8', 'hnsw' or 'flat', got "${String(kind)}"`);
}

/** A new, empty engine. Loads the default embedder (and builds its vector cache on first use). */
export async function createEngine(config: EngineConfig = {}): Promise<Engine> {
  const embedder = config.embedder ?? (await createDefaultEmbedder({ cacheDir: config.cacheDir, log: config.log }));
  return new Engine(config, embedder, new Bm25Index(config.bm25), makeVectorIndex(embedder.dim, config.vector));
}

/**
 * The index keeps its compressed lists as views into the file's bytes: a copy-on-write mapping of the file when
 * index/mmap.ts can map it (shared by every process serving this index), else the bytes read into memory.
 */
async function readBm25(file: string): Promise<Bm25Index> {
  return Bm25Index.deserialize(await loadIndexFile(file));
}

/** Called by `loadEngine` after each part is in memory (npm run bench:memory measures each part's growth there). */
export interface LoadHooks {
  loaded?(part: 'embedder' | 'bm25' | 'vectors' | 'sentences' | 'chunks'): void | Promise<void>;
}

/**
 * Loads an engine saved with `engine.save(dir)`. The saved configuration is used; `overrides` may change query-time
 * settings (fusion, candidates, answer, llm, vector.efSearch; one left undefined keeps the saved value) and must
 * supply the embedder when a custom one was used.
 */
export async function loadEngine(dir: string, overrides: EngineConfig = {}, hooks: LoadHooks = {}): Promise<Engine> {
  const manifestPath = join(dir, 'manifest.json');
  if (!existsSync(manifestPath)) {
    throw new RagError('NOT_FOUND', `no saved engine in ${dir} (manifest.json missing); build one with npm run index`);
  }
  let manifest: Manifest;
  try {
    manifest = JSON.parse(await readFile(manifestPath, 'utf8'));
  } catch {
    throw new RagError('CORRUPT', `${manifestPath} is not valid JSON`);
  }
  if (manifest.format !== FORMAT || !(manifest.version === 1 || manifest.version === FORMAT_VERSION)) {
    throw new RagError('CORRUPT', `${manifestPath}: not a ${FORMAT} index of version 1 or ${FORMAT_VERSION} (it says ${manifest.format} v${manifest.version}); rebuild it with npm run index`);
  }
  for (const [name, want] of Object.entries(manifest.files ?? {})) {
    const file = join(dir, name);
    if (!existsSync(file)) throw new RagError('CORRUPT', `${file} is missing (listed in ${manifestPath})`);
    const got = await fileChecksum(file);
    if (got.bytes !== want.bytes || got.crc32 !== want.crc32) {
      throw new RagError('CORRUPT', `${file}: ${got.bytes} bytes, CRC-32 ${got.crc32}; ${manifestPath} says ${want.bytes} bytes, CRC-32 ${want.crc32}`);
    }
  }
  // an override left undefined keeps the saved value
  const given = Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined)) as EngineConfig;
  const config: EngineConfig = { ...manifest.config, ...given };
  const embedder = overrides.embedder ?? (await createDefaultEmbedder({ cacheDir: config.cacheDir, log: config.log }));
  if (embedder.name !== manifest.embedder.name || embedder.dim !== manifest.embedder.dim) {
    throw new RagError(
      'INVALID_INPUT',
      `index was built with embedder ${manifest.embedder.name} (${manifest.embedder.dim}-d), not ${embedder.name} (${embedder.dim}-d)` +
        (manifest.embedder.name.startsWith('onnx:') ? '; serve it with --embedder onnx --model <the folder it was built with>' : ''),
    );
  }
  if (manifest.embedder.state !== undefined) embedder.restore?.(manifest.embedder.state);
  await hooks.loaded?.('embedder');
  const bm25 = await readBm25(join(dir, 'bm25.bin'));
  await hooks.loaded?.('bm25');
  const vectors = makeVectorIndex(embedder.dim, { ...manifest.config.vector, kind: manifest.vectorIndex as VectorKind });
  await vectors.load(join(dir, 'vectors.bin'));
  // the search beam is a query-time setting: an override replaces the one saved with the index
  const ef = overrides.vector?.efSearch;
  if (ef !== undefined) (vectors as VectorIndex & { setEfSearch?(ef: number): void }).setEfSearch?.(ef);
  await hooks.loaded?.('vectors');
  // indexes saved before the sentence table existed analyse each chunk on its first answer instead
  const sentencesFile = join(dir, 'sentences.bin');
  const sentences = existsSync(sentencesFile) ? await SentenceTable.load(sentencesFile) : undefined;
  await hooks.loaded?.('sentences');
  const store = manifest.version === 1 ? undefined : await ChunkStore.open(join(dir, 'chunks.bin'));
  const engine = new Engine(config, embedder, bm25, vectors, sentences, store);
  await engine.restore(dir, manifest);
  await hooks.loaded?.('chunks');
  return engine;
}
