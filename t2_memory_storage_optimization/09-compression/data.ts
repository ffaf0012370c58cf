/**
 * The data of 09-compression: the engine's own vectors and texts. Chunks of Brown documents (`loadBrown`,
 * `chunkDocument`), grown to `chunks` with the corpus generator trained on them (`shared/corpus/generate.ts`),
 * embedded by the engine's default embedder (SIF over GloVe-100d, fitted on the same chunks, as `engine.ingest`
 * does); queries are Brown known-item phrases (`shared/eval/known-item.ts`) embedded the same way. The exact top k
 * of every query comes from the engine's float32 `FlatIndex`.
 *
 * Loading Brown, generating text, fitting SIF and embedding take seconds, the same every time for a size, and leave
 * the GloVe tables and the Brown corpus in the heap, which every full collection of the memory measurements then has
 * to walk. So the embedded data (texts, vectors, queries) is cached per size in the project's cache directory
 * (`RAG_CACHE_DIR`, default `.cache/`, git-ignored), under a key that covers the size and the source of every module
 * that makes it: a changed tokenizer or embedder makes a new entry. A missing or unreadable entry is rebuilt.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { FlatIndex } from '../../shared/index/flat.ts';
import { VectorFile, writeVectorFile } from '../../shared/store/vector-file.ts';
import type { ScoredLabel } from '../../shared/types.ts';
import { defaultCacheDir } from '../../shared/embed/glove-cache.ts';
import { REPO_ROOT } from '../../shared/util/paths.ts';
import { writeAtomic } from '../../shared/util/write-atomic.ts';

export interface DataSize {
  /** Brown documents loaded (of 500): their chunks come first, and their text trains the generator. */
  brownDocs: number;
  /** Vectors in all: the Brown chunks, then generated ones. */
  chunks: number;
  /** Known-item queries. */
  queries: number;
}

export interface Data {
  dim: number;
  /** One row per chunk, as the embedder returns them (not normalised). */
  vectors: Float32Array[];
  queries: Float32Array[];
  /** The exact top 10 of every query (float32 flat search over `vectors`). */
  truth: ScoredLabel[][];
  /** The Brown chunk texts (real prose; generated text is not used for the text measurements). */
  texts: string[];
  /** The exact index the truth came from (labels = rows), for exact scores of any row. */
  exact: FlatIndex;
}

export const K = 10;

export async function loadData(size: DataSize, log: (msg: string) => void = () => {}): Promise<Data> {
  const file = cacheFile(size);
  let made = await readCache(file);
  if (made) log(`embedded data from the cache (${file})`);
  else {
    made = await embedData(size, log);
    try {
      await mkdir(dirname(file), { recursive: true });
      await writeCache(file, made);
      // entries of this size made by older sources are stale: remove them (the full size's is about 50 MB)
      const prefix = `09-compression-${size.chunks}-`;
      for (const f of await readdir(dirname(file))) if (f.startsWith(prefix) && f.endsWith('.bin') && join(dirname(file), f) !== file) await rm(join(dirname(file), f), { force: true });
    } catch (err) {
      log(`could not cache the embedded data in ${file}: ${(err as Error).message}`);
    }
  }
  const { dim, vectors, queries, texts } = made;
  const exact = new FlatIndex({ dim, initialCapacity: Math.max(1, vectors.length) });
  exact.add(vectors.map((_, i) => i), vectors);
  const truth = queries.map((q) => exact.search(q, K));
  return { dim, vectors, queries, truth, texts, exact };
}

interface Embedded {
  dim: number;
  vectors: Float32Array[];
  queries: Float32Array[];
  texts: string[];
}

async function embedData(size: DataSize, log: (msg: string) => void): Promise<Embedded> {
  // loaded here, not at the top: a run served from the cache never loads the corpus or the embedder
  const { loadBrown } = await import('../../shared/corpus/brown.ts');
  const { chunkDocument, indexText } = await import('../../shared/corpus/chunk.ts');
  const { generateChunks, trainTextModel } = await import('../../shared/corpus/generate.ts');
  const { createDefaultEmbedder } = await import('../../shared/embed/sif.ts');
  const { knownItemQueries } = await import('../../shared/eval/known-item.ts');
  log(`loading ${size.brownDocs} Brown documents and GloVe-100d`);
  const docs = await loadBrown({ limit: size.brownDocs });
  const brown = docs.flatMap((d) => chunkDocument(d));
  const texts = brown.map((c) => c.text);
  let indexTexts = brown.map(indexText).slice(0, size.chunks);
  if (indexTexts.length < size.chunks) {
    log(`generating ${size.chunks - indexTexts.length} chunks from a bigram model of those documents`);
    const model = trainTextModel(docs);
    for (const c of generateChunks({ model, chunks: size.chunks - indexTexts.length, seed: 42 })) indexTexts.push(indexText(c));
  }
  const embedder = await createDefaultEmbedder();
  log(`fitting SIF and embedding ${indexTexts.length} chunks`);
  await embedder.fit(indexTexts);
  const vectors = await embedder.embed(indexTexts);
  indexTexts = [];
  const { queries: qs } = knownItemQueries(docs, { count: size.queries, seed: 11 });
  const queries = await embedder.embed(qs.map((q) => q.text));
  return { dim: embedder.dim, vectors, queries, texts };
}

/** Every module whose code decides the embedded data: a change to any of them makes a new cache entry. */
const SOURCES = [
  't2_memory_storage_optimization/09-compression/data.ts',
  'shared/corpus/brown.ts',
  'shared/corpus/chunk.ts',
  'shared/corpus/generate.ts',
  'shared/embed/sif.ts',
  'shared/embed/glove-cache.ts',
  'shared/eval/known-item.ts',
  'shared/text/tokenize.ts',
  'shared/text/analyzer.ts',
  'shared/util/random.ts',
];

function cacheFile(size: DataSize): string {
  const h = createHash('sha256').update(JSON.stringify([size.brownDocs, size.chunks, size.queries]));
  for (const f of SOURCES) h.update(readFileSync(join(REPO_ROOT, f)));
  return join(defaultCacheDir(), 'lab', `09-compression-${size.chunks}-${h.digest('hex').slice(0, 16)}.bin`);
}

const MAGIC = 'LAB09EMB';

/** MAGIC, u32 header length, JSON header { dim, vectors, queries, texts }, padding to 4, the vectors, the queries. */
async function writeCache(file: string, d: Embedded): Promise<void> {
  const header = Buffer.from(JSON.stringify({ dim: d.dim, vectors: d.vectors.length, queries: d.queries.length, texts: d.texts }), 'utf8');
  const lead = Buffer.alloc(12);
  lead.write(MAGIC, 0, 'latin1');
  lead.writeUInt32LE(header.length, 8);
  const pad = Buffer.alloc((4 - ((12 + header.length) % 4)) % 4);
  const rows = [...d.vectors, ...d.queries].map((v) => new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
  await writeAtomic(file, [lead, header, pad, ...rows]);
}

async function readCache(file: string): Promise<Embedded | undefined> {
  let buf: Buffer;
  try {
    buf = await readFile(file);
  } catch {
    return undefined;
  }
  try {
    if (buf.toString('latin1', 0, 8) !== MAGIC) return undefined;
    const len = buf.readUInt32LE(8);
    const h = JSON.parse(buf.toString('utf8', 12, 12 + len)) as { dim: number; vectors: number; queries: number; texts: string[] };
    let at = 12 + len;
    at += (4 - (at % 4)) % 4;
    if (buf.length !== at + 4 * h.dim * (h.vectors + h.queries)) return undefined;
    // one copy into a fresh ArrayBuffer, then a view per row (as the embedder returns them: separate rows)
    const all = new Float32Array(h.dim * (h.vectors + h.queries));
    new Uint8Array(all.buffer).set(buf.subarray(at));
    const row = (i: number) => all.slice(i * h.dim, (i + 1) * h.dim);
    return {
      dim: h.dim,
      vectors: Array.from({ length: h.vectors }, (_, i) => row(i)),
      queries: Array.from({ length: h.queries }, (_, i) => row(h.vectors + i)),
      texts: h.texts,
    };
  } catch {
    return undefined;
  }
}

/** recall@k of one query's hits against its exact top k. */
export function recallOf(hits: ScoredLabel[], truth: ScoredLabel[]): number {
  if (truth.length === 0) return 1;
  const want = new Set(truth.map((h) => h.label));
  let found = 0;
  for (const h of hits.slice(0, truth.length)) if (want.has(h.label)) found++;
  return found / truth.length;
}

/** The vectors at full precision in a temporary file, opened; `dispose` closes and deletes it. */
export function fullPrecisionFile(vectors: Float32Array[], dim: number): { file: VectorFile; dispose: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'lab-09-compression-'));
  const path = join(dir, 'vectors.f32');
  writeVectorFile(path, vectors, dim);
  const file = new VectorFile(path);
  return {
    file,
    dispose: () => {
      file.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
