/**
 * The RAG engine: ingest → chunk → analyse + embed → BM25 and vector indexes → hybrid retrieval → cited answer.
 *
 *     const engine = await createEngine();
 *     await engine.ingest(await loadBrown());
 *     const { hits, answer, timings } = await engine.query('jury investigation of the election', { k: 5 });
 *     await engine.save('indexes/brown');                // later: await loadEngine('indexes/brown')
 */
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { extractiveAnswerFromTable, type Answer, type ExtractiveOptions } from './answer/extractive.ts';
import { SentenceTable } from './answer/sentence-table.ts';
import { completeChat, llmConfigFromEnv, type LlmConfig } from './answer/llm.ts';
import { chunkDocument, indexText, validateDoc } from './corpus/chunk.ts';
import { createDefaultEmbedder, isZeroVector } from './embed/sif.ts';
import { RagError } from './errors.ts';
import { Bm25Index } from './index/bm25.ts';
import { FlatIndex } from './index/flat.ts';
import { HnswIndex } from './index/hnsw.ts';
import { compileFilter, validateFilter, type MetadataFilter } from './retrieve/filter.ts';
import { fuse, type FusionOptions } from './retrieve/fusion.ts';
import { createAnalyzer, type Analyzer } from './text/analyzer.ts';
import type { Chunk, Doc, Embedder, LabelFilter, Metadata, ScoredLabel, VectorIndex } from './types.ts';

export type RetrievalMode = 'bm25' | 'dense' | 'hybrid';
export const RETRIEVAL_MODES: readonly RetrievalMode[] = ['bm25', 'dense', 'hybrid'];

export interface VectorIndexConfig {
  /** 'hnsw' (approximate, hnswlib) or 'flat' (exact). Default 'hnsw'. */
  kind?: 'hnsw' | 'flat';
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
   * the index's own `efSearch` (160), where recall of the list itself is what the caller sees.
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
  chunks: number;
  /** Documents that replaced an earlier version with the same id. */
  replaced: number;
  ms: number;
  /** Milliseconds per stage: chunking, fitting the embedder (first batch only), embedding, BM25, vector index. */
  stages: { chunk: number; fit: number; embed: number; bm25: number; vectors: number };
}

export interface EngineStats {
  documents: number;
  chunks: number;
  vectorIndex: string;
  embedder: string;
  dim: number;
}

interface EngineState {
  nextLabel: number;
  fitted: boolean;
}

const FORMAT = 'rag-engine';
const FORMAT_VERSION = 1;
const EMBED_BATCH = 512;

export class Engine {
  readonly analyzer: Analyzer;
  /** Per-chunk sentence analysis for answers (answer/sentence-table.ts). */
  private readonly sentences: SentenceTable;
  private readonly chunks: (Chunk | undefined)[] = [];
  private readonly labelsByDoc = new Map<string, number[]>();
  private readonly fusion: Required<FusionOptions>;
  private readonly candidates: number;
  private readonly hybridEf: number;
  private readonly llm: LlmConfig | undefined;
  private readonly log: (msg: string) => void;
  private state: EngineState = { nextLabel: 0, fitted: false };

  constructor(
    readonly config: EngineConfig,
    readonly embedder: Embedder,
    readonly bm25: Bm25Index,
    readonly vectors: VectorIndex,
    sentences?: SentenceTable,
  ) {
    this.analyzer = createAnalyzer();
    this.sentences = sentences ?? new SentenceTable();
    this.fusion = { ...DEFAULT_FUSION, ...config.fusion } as Required<FusionOptions>;
    this.candidates = config.candidates ?? 20;
    this.hybridEf = config.hybridEf ?? 24;
    this.llm = config.llm === null ? undefined : (config.llm ?? llmConfigFromEnv());
    this.log = config.log ?? (() => {});
  }

  /** Number of live documents and chunks, and what indexes them. */
  stats(): EngineStats {
    return {
      documents: this.labelsByDoc.size,
      chunks: this.bm25.size,
      vectorIndex: this.vectors.kind,
      embedder: this.embedder.name,
      dim: this.embedder.dim,
    };
  }

  /** The chunk stored under a label (for tools and tests). */
  chunk(label: number): Chunk | undefined {
    return this.chunks[label];
  }

  hasDocument(id: string): boolean {
    return this.labelsByDoc.has(id);
  }

  /**
   * Adds documents; a document whose id is already indexed replaces the earlier version. The whole batch is
   * validated before anything changes, so a malformed document leaves the engine as it was.
   */
  async ingest(docs: readonly unknown[], onProgress?: (done: number, total: number) => void): Promise<IngestResult> {
    const t0 = performance.now();
    if (!Array.isArray(docs)) throw new RagError('INVALID_INPUT', 'ingest expects an array of documents');
    const byId = new Map<string, Doc>();
    docs.forEach((raw, i) => {
      const doc = validateDoc(raw, i);
      if (doc.text.length > LIMITS.maxDocChars) {
        throw new RagError('INVALID_INPUT', `document #${i} (${doc.id}): text over ${LIMITS.maxDocChars} characters`);
      }
      byId.set(doc.id, doc); // last version in a batch wins
    });
    const stages = { chunk: 0, fit: 0, embed: 0, bm25: 0, vectors: 0 };
    let t = performance.now();
    const chunks: Chunk[] = [];
    for (const doc of byId.values()) chunks.push(...chunkDocument(doc, this.config.chunk));
    const texts = chunks.map(indexText);
    stages.chunk = performance.now() - t;

    if (!this.state.fitted && this.embedder.fit && texts.length > 0) {
      this.log(`fitting ${this.embedder.name} on ${texts.length} chunks`);
      t = performance.now();
      await this.embedder.fit(texts);
      this.state.fitted = true;
      stages.fit = performance.now() - t;
    }
    t = performance.now();
    // embed everything before touching the indexes: an embedder failure leaves the engine unchanged
    const vectors: Float32Array[] = [];
    for (let i = 0; i < texts.length; i += EMBED_BATCH) {
      vectors.push(...(await this.embedder.embed(texts.slice(i, i + EMBED_BATCH))));
      onProgress?.(Math.min(i + EMBED_BATCH, texts.length), texts.length);
    }
    stages.embed = performance.now() - t;
    t = performance.now();

    let replaced = 0;
    for (const id of byId.keys()) if (this.removeDocument(id)) replaced++;
    const labels: number[] = [];
    chunks.forEach((chunk, i) => {
      const label = this.state.nextLabel++;
      labels.push(label);
      this.chunks[label] = chunk;
      let list = this.labelsByDoc.get(chunk.docId);
      if (!list) this.labelsByDoc.set(chunk.docId, (list = []));
      list.push(label);
      this.bm25.add(label, this.analyzer.analyze(texts[i]));
      this.sentences.add(label, chunk.text, this.analyzer);
    });
    // documents without any text produce no chunk but are still known (so remove() finds them)
    for (const id of byId.keys()) if (!this.labelsByDoc.has(id)) this.labelsByDoc.set(id, []);
    stages.bm25 = performance.now() - t;
    t = performance.now();
    if (labels.length > 0) this.vectors.add(labels, vectors);
    stages.vectors = performance.now() - t;
    return { documents: byId.size, chunks: chunks.length, replaced, ms: performance.now() - t0, stages };
  }

  /** Removes documents by id; returns how many were present. */
  remove(ids: readonly string[]): { removed: number } {
    if (!Array.isArray(ids) || ids.some((id) => typeof id !== 'string' || id.length === 0)) {
      throw new RagError('INVALID_INPUT', 'remove expects an array of non-empty document ids');
    }
    let removed = 0;
    for (const id of ids) if (this.removeDocument(id)) removed++;
    return { removed };
  }

  private removeDocument(id: string): boolean {
    const labels = this.labelsByDoc.get(id);
    if (!labels) return false;
    for (const label of labels) {
      this.bm25.remove(label);
      this.sentences.remove(label);
      this.chunks[label] = undefined;
    }
    if (labels.length > 0) this.vectors.remove(labels);
    this.labelsByDoc.delete(id);
    return true;
  }

  /** Retrieves the top-k chunks for a query and (unless `answer: false`) builds a cited answer from them. */
  async query(text: string, opts: QueryOptions = {}): Promise<QueryResult> {
    const t0 = performance.now();
    const { k, mode, filter, wantAnswer } = validateQuery(text, opts);
    const timings: Timings = { total: 0 };
    const labelFilter = filter ? this.labelFilter(filter) : undefined;
    const depth = Math.max(k, mode === 'hybrid' ? this.candidates : k);
    let bm25Hits: ScoredLabel[] = [];
    let denseHits: ScoredLabel[] = [];

    if (mode !== 'dense') {
      let t = performance.now();
      const terms = this.analyzer.analyze(text);
      timings.analyze = performance.now() - t;
      t = performance.now();
      bm25Hits = terms.length > 0 ? this.bm25.search(terms, depth, labelFilter) : [];
      timings.bm25 = performance.now() - t;
    }
    if (mode !== 'bm25') {
      let t = performance.now();
      const [vector] = await this.embedder.embed([text]);
      timings.embed = performance.now() - t;
      t = performance.now();
      const ef = mode === 'hybrid' ? Math.max(this.hybridEf, depth) : undefined;
      denseHits = isZeroVector(vector) ? [] : this.vectors.search(vector, depth, labelFilter, ef);
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
    for (let i = 0; i < n; i++) rows[i] = this.sentences.row(labels[i], hits[i].text, this.analyzer);
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

  private labelFilter(filter: MetadataFilter): LabelFilter {
    const test = compileFilter(filter);
    return (label) => {
      const c = this.chunks[label];
      return c !== undefined && test(c);
    };
  }

  private toHit(label: number, score: number, rank: number, scores: Hit['scores']): Hit {
    const c = this.chunks[label];
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
   * Writes the engine to `dir` (manifest, chunks, BM25 and vector indexes, embedder state) so a restart does not
   * re-embed. Written to a temporary folder first and renamed into place: a crash never leaves a half-written index.
   */
  async save(dir: string): Promise<void> {
    const tmp = `${dir}.tmp-${process.pid}-${Date.now()}`;
    await mkdir(tmp, { recursive: true });
    try {
      const lines: string[] = [];
      this.chunks.forEach((c, label) => {
        if (c) lines.push(JSON.stringify([label, c]));
      });
      await writeFile(join(tmp, 'chunks.jsonl'), lines.join('\n') + '\n');
      await writeFile(join(tmp, 'bm25.bin'), this.bm25.serialize());
      await writeFile(join(tmp, 'sentences.bin'), this.sentences.serialize());
      await this.vectors.save(join(tmp, 'vectors.bin'));
      const manifest = {
        format: FORMAT,
        version: FORMAT_VERSION,
        savedAt: new Date().toISOString(),
        state: this.state,
        documents: [...this.labelsByDoc.keys()].filter((id) => this.labelsByDoc.get(id)!.length === 0),
        config: serializableConfig(this.config),
        embedder: { name: this.embedder.name, dim: this.embedder.dim, state: this.embedder.state?.() },
        vectorIndex: this.vectors.kind,
        stats: this.stats(),
      };
      await writeFile(join(tmp, 'manifest.json'), JSON.stringify(manifest, null, 1));
      const old = `${dir}.old-${process.pid}-${Date.now()}`;
      if (existsSync(dir)) await rename(dir, old);
      await rename(tmp, dir);
      await rm(old, { recursive: true, force: true });
    } catch (err) {
      await rm(tmp, { recursive: true, force: true });
      throw err;
    }
  }

  /** @internal used by loadEngine */
  async restore(dir: string, manifest: Manifest): Promise<void> {
    this.state = { ...manifest.state };
    const text = await readFile(join(dir, 'chunks.jsonl'), 'utf8');
    let lineNo = 0;
    for (const line of text.split('\n')) {
      lineNo++;
      if (!line) continue;
      let entry: [number, Chunk];
      try {
        entry = JSON.parse(line);
      } catch {
        throw new RagError('CORRUPT', `${join(dir, 'chunks.jsonl')} line ${lineNo} is not JSON`);
      }
      const [label, chunk] = entry;
      this.chunks[label] = chunk;
      let list = this.labelsByDoc.get(chunk.docId);
      if (!list) this.labelsByDoc.set(chunk.docId, (list = []));
      list.push(label);
    }
    for (const id of manifest.documents ?? []) if (!this.labelsByDoc.has(id)) this.labelsByDoc.set(id, []);
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

function makeVectorIndex(dim: number, cfg: VectorIndexConfig = {}): VectorIndex {
  const kind = cfg.kind ?? 'hnsw';
  if (kind === 'flat') return new FlatIndex(dim);
  if (kind === 'hnsw') return new HnswIndex({ dim, M: cfg.M, efConstruction: cfg.efConstruction, efSearch: cfg.efSearch });
  throw new RagError('INVALID_INPUT', `vector.kind must be 'hnsw' or 'flat', got "${String(kind)}"`);
}

/** A new, empty engine. Loads the default embedder (and builds its vector cache on first use). */
export async function createEngine(config: EngineConfig = {}): Promise<Engine> {
  const embedder = config.embedder ?? (await createDefaultEmbedder({ cacheDir: config.cacheDir, log: config.log }));
  return new Engine(config, embedder, new Bm25Index(config.bm25), makeVectorIndex(embedder.dim, config.vector));
}

/**
 * Loads an engine saved with `engine.save(dir)`. The saved configuration is used; `overrides` may change query-time
 * settings (fusion, candidates, answer, llm; one left undefined keeps the saved value) and must supply the embedder
 * when a custom one was used.
 */
export async function loadEngine(dir: string, overrides: EngineConfig = {}): Promise<Engine> {
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
  if (manifest.format !== FORMAT || manifest.version !== FORMAT_VERSION) {
    throw new RagError('CORRUPT', `${manifestPath}: not a ${FORMAT} v${FORMAT_VERSION} index`);
  }
  // an override left undefined keeps the saved value
  const given = Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined)) as EngineConfig;
  const config: EngineConfig = { ...manifest.config, ...given };
  const embedder = overrides.embedder ?? (await createDefaultEmbedder({ cacheDir: config.cacheDir, log: config.log }));
  if (embedder.name !== manifest.embedder.name || embedder.dim !== manifest.embedder.dim) {
    throw new RagError(
      'INVALID_INPUT',
      `index was built with embedder ${manifest.embedder.name} (${manifest.embedder.dim}-d), not ${embedder.name} (${embedder.dim}-d)`,
    );
  }
  if (manifest.embedder.state !== undefined) embedder.restore?.(manifest.embedder.state);
  const bm25 = Bm25Index.deserialize(new Uint8Array(await readFile(join(dir, 'bm25.bin'))));
  const vectors = makeVectorIndex(embedder.dim, { ...manifest.config.vector, kind: manifest.vectorIndex as 'hnsw' | 'flat' });
  await vectors.load(join(dir, 'vectors.bin'));
  // indexes saved before the sentence table existed analyse each chunk on its first answer instead
  const sentencesFile = join(dir, 'sentences.bin');
  const sentences = existsSync(sentencesFile) ? await SentenceTable.load(sentencesFile) : undefined;
  const engine = new Engine(config, embedder, bm25, vectors, sentences);
  await engine.restore(dir, manifest);
  return engine;
}
