/**
 * The workload for 10-batching, built from real pieces of the engine: Brown documents cut into chunks
 * (`chunkDocument`), embedded with the SIF embedder over GloVe-100d, packed into one row-major matrix; queries are
 * real Brown sentences drawn with a seeded PRNG.
 */
import { loadBrown } from '../../shared/corpus/brown.ts';
import { chunkDocument } from '../../shared/corpus/chunk.ts';
import { createDefaultEmbedder, type SifEmbedder } from '../../shared/embed/sif.ts';
import { splitSentences } from '../../shared/text/sentences.ts';
import { mulberry32 } from '../../shared/util/random.ts';

/** Every chunk vector in one contiguous Float32Array (row i at offset i × dim); the label of row i is i. */
export interface MatrixIndex {
  readonly n: number;
  readonly dim: number;
  /** n × dim, row-major, each row unit length (or all zero). */
  readonly rows: Float32Array;
}

/** Pack vectors into one matrix, normalising each row (zero rows stay zero). */
export function buildMatrix(vectors: ArrayLike<number>[], dim: number): MatrixIndex {
  const n = vectors.length;
  const rows = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) {
    const v = vectors[i];
    if (v.length !== dim) throw new RangeError(`buildMatrix: vector ${i} has ${v.length} dimensions, expected ${dim}`);
    let ss = 0;
    for (let j = 0; j < dim; j++) ss += v[j] * v[j];
    const inv = ss > 0 ? 1 / Math.sqrt(ss) : 0;
    for (let j = 0; j < dim; j++) rows[i * dim + j] = v[j] * inv;
  }
  return { n, dim, rows };
}

export interface Corpus {
  embedder: SifEmbedder;
  index: MatrixIndex;
  /** Real sentences (7 to 40 words) from the same documents, in a seeded random order. */
  queries: string[];
}

export interface CorpusOptions {
  /** Brown documents to load (of 500). */
  docs: number;
  /** Query sentences to draw. */
  queries: number;
  /** Words per chunk. Default 100 (overlap 20). */
  maxTokens?: number;
  seed?: number;
}

export async function loadCorpus(opts: CorpusOptions): Promise<Corpus> {
  const docs = await loadBrown({ limit: opts.docs });
  const chunks = docs.flatMap((d) => chunkDocument(d, { maxTokens: opts.maxTokens ?? 100, overlapTokens: 20 }));
  const texts = chunks.map((c) => c.text);
  const embedder = await createDefaultEmbedder();
  await embedder.fit(texts);
  const index = buildMatrix(embedder.embedSync(texts), embedder.dim);
  const sentences = docs.flatMap((d) => splitSentences(d.text)).filter((s) => {
    const words = s.split(/\s+/).length;
    return words >= 7 && words <= 40;
  });
  const rand = mulberry32(opts.seed ?? 10);
  const queries: string[] = [];
  for (let i = 0; i < opts.queries && sentences.length > 0; i++) queries.push(sentences[Math.floor(rand() * sentences.length)]);
  return { embedder, index, queries };
}
