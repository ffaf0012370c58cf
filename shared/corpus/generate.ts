import { RagError } from '../errors.ts';
import { detokenize } from '../text/detokenize.ts';
import { splitSentences } from '../text/sentences.ts';
import type { Chunk, Doc } from '../types.ts';
import { mulberry32 } from '../util/random.ts';
import { chunkDocument, type ChunkOptions } from './chunk.ts';

/**
 * A word bigram model in compressed-sparse-row form: for each token id, its successors sorted by id with running
 * (cumulative) counts, so drawing the next word is one binary search. Id 0 is the sentence boundary: as a
 * predecessor it means "sentence start", as a successor "sentence end".
 */
export interface TextModel {
  /** id → token (id 0 is the boundary, ''). Case and punctuation are kept. */
  readonly vocab: string[];
  /** Row `id` spans `successors[offsets[id] .. offsets[id + 1])`. Length vocab.length + 1. */
  readonly offsets: Uint32Array;
  readonly successors: Uint32Array;
  /** Cumulative bigram counts, per row. */
  readonly cumulative: Uint32Array;
  /** Source genres (metadata.genre of the training docs) and their cumulative document counts. */
  readonly genres: string[];
  readonly genreCumulative: Uint32Array;
}

export interface GenerateOptions {
  model: TextModel;
  /** Number of documents. */
  docs: number;
  /** PRNG seed: the same seed and model give byte-identical documents. Default 42. */
  seed?: number;
  /** Sentences per document, inclusive range, uniform. Default [6, 14]. */
  sentencesPerDoc?: [number, number];
  /** Sentences per paragraph, inclusive range (paragraphs are separated by a blank line). Default [2, 5]. */
  sentencesPerParagraph?: [number, number];
  /** First document number (ids count from here). Default 1. */
  firstId?: number;
}

/** Longest generated sentence in tokens; a sentence still going is ended with a period. */
const MAX_SENTENCE_TOKENS = 60;
/** Words, numbers with inner . , ' - (3.5, 1,000, don't, well-known), or a single punctuation mark. */
const TOKEN = /[\p{L}\p{N}]+(?:[-'’.,][\p{L}\p{N}]+)*|--|[^\s\p{L}\p{N}]/gu;
/** Paired marks are left out: a bigram model cannot balance them. */
const SKIP = new Set(['"', '(', ')', '[', ']', '{', '}', '“', '”', '`']);

/**
 * Trains the bigram model on `docs` (split into sentences, then word and punctuation tokens). Deterministic: ids
 * follow first appearance. Training reads the corpus once; the model is a few small tables.
 */
export function trainTextModel(docs: readonly Doc[]): TextModel {
  if (docs.length === 0) throw new RagError('INVALID_INPUT', 'trainTextModel: need at least one document');
  const ids = new Map<string, number>([['', 0]]);
  const vocab: string[] = [''];
  const pairs = new Map<number, number>(); // prev * 2^26 + next → count
  const genreCounts = new Map<string, number>();
  const SHIFT = 2 ** 26;
  for (const doc of docs) {
    const genre = doc.metadata?.genre;
    const g = typeof genre === 'string' && genre.length > 0 ? genre : 'general';
    genreCounts.set(g, (genreCounts.get(g) ?? 0) + 1);
    for (const sentence of splitSentences(doc.text)) {
      let prev = 0;
      let n = 0;
      for (const tok of sentence.match(TOKEN) ?? []) {
        if (SKIP.has(tok)) continue;
        let id = ids.get(tok);
        if (id === undefined) {
          id = vocab.length;
          if (id >= SHIFT) throw new RagError('INVALID_INPUT', 'trainTextModel: vocabulary over 2^26 tokens');
          ids.set(tok, id);
          vocab.push(tok);
        }
        const key = prev * SHIFT + id;
        pairs.set(key, (pairs.get(key) ?? 0) + 1);
        prev = id;
        n++;
      }
      if (n > 0) {
        const key = prev * SHIFT;
        pairs.set(key, (pairs.get(key) ?? 0) + 1);
      }
    }
  }
  if (pairs.size === 0) throw new RagError('INVALID_INPUT', 'trainTextModel: the documents contain no words');
  const keys = Float64Array.from(pairs.keys()).sort();
  const offsets = new Uint32Array(vocab.length + 1);
  const successors = new Uint32Array(keys.length);
  const cumulative = new Uint32Array(keys.length);
  let row = -1;
  let running = 0;
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i];
    const prev = Math.floor(key / SHIFT);
    while (row < prev) {
      row++;
      offsets[row] = i;
      running = 0;
    }
    running += pairs.get(key)!;
    successors[i] = key - prev * SHIFT;
    cumulative[i] = running;
  }
  for (let r = row + 1; r <= vocab.length; r++) offsets[r] = keys.length;
  const genres = [...genreCounts.keys()].sort();
  const genreCumulative = new Uint32Array(genres.length);
  let acc = 0;
  genres.forEach((g, i) => (genreCumulative[i] = acc += genreCounts.get(g)!));
  return { vocab, offsets, successors, cumulative, genres, genreCumulative };
}

/** Index of the first entry in cum[lo..hi) greater than x (cum is non-decreasing). */
function search(cum: Uint32Array, lo: number, hi: number, x: number): number {
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (cum[mid] > x) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

function checkRange(name: string, r: [number, number]): void {
  if (!Number.isInteger(r[0]) || !Number.isInteger(r[1]) || r[0] < 1 || r[1] < r[0]) {
    throw new RagError('INVALID_INPUT', `${name} must be [min, max] integers with 1 <= min <= max, got [${r}]`);
  }
}

/**
 * Emits `docs` synthetic documents, one at a time (nothing is kept), with the word statistics of the training text:
 * id 'gen/000001', title '<genre> gen/000001', metadata `{ genre, source: 'generated' }` with the genre drawn in
 * proportion to the source corpus. Same seed and model → byte-identical output.
 */
export function* generateDocs(opts: GenerateOptions): Generator<Doc> {
  const { model } = opts;
  const sentences = opts.sentencesPerDoc ?? [6, 14];
  const paragraphs = opts.sentencesPerParagraph ?? [2, 5];
  checkRange('sentencesPerDoc', sentences);
  checkRange('sentencesPerParagraph', paragraphs);
  if (!Number.isInteger(opts.docs) || opts.docs < 0) {
    throw new RagError('INVALID_INPUT', `generateDocs: docs must be a non-negative integer, got ${opts.docs}`);
  }
  const rand = mulberry32(opts.seed ?? 42);
  const between = (r: [number, number]) => r[0] + Math.floor(rand() * (r[1] - r[0] + 1));
  const { vocab, offsets, successors, cumulative, genres, genreCumulative } = model;
  const totalGenres = genreCumulative[genreCumulative.length - 1];
  const tokens: string[] = [];

  const sentence = (): string => {
    tokens.length = 0;
    let prev = 0;
    for (;;) {
      const lo = offsets[prev];
      const hi = offsets[prev + 1];
      if (lo === hi) break; // never seen as a predecessor (cannot happen for ids from training)
      const x = Math.floor(rand() * cumulative[hi - 1]);
      const next = successors[search(cumulative, lo, hi, x)];
      if (next === 0) break;
      tokens.push(vocab[next]);
      prev = next;
      if (tokens.length >= MAX_SENTENCE_TOKENS) {
        tokens.push('.');
        break;
      }
    }
    return detokenize(tokens);
  };

  const first = opts.firstId ?? 1;
  for (let d = 0; d < opts.docs; d++) {
    const id = `gen/${String(first + d).padStart(6, '0')}`;
    const genre = genres[search(genreCumulative, 0, genres.length, Math.floor(rand() * totalGenres))];
    const count = between(sentences);
    let text = '';
    let inParagraph = 0;
    let paragraphLength = between(paragraphs);
    for (let s = 0; s < count; s++) {
      let line = sentence();
      while (line.length === 0) line = sentence();
      if (s > 0) text += inParagraph === 0 ? '\n\n' : ' ';
      text += line;
      if (++inParagraph === paragraphLength) {
        inParagraph = 0;
        paragraphLength = between(paragraphs);
      }
    }
    yield { id, title: `${genre} ${id}`, text, metadata: { genre, source: 'generated' } };
  }
}

export interface GenerateChunksOptions extends Omit<GenerateOptions, 'docs'> {
  /** Exactly this many chunks are emitted (the last document may be cut short). */
  chunks: number;
  /** Chunker options. Default: chunkDocument's defaults (200 / 40). */
  chunk?: ChunkOptions;
}

/** Generated documents cut by `chunkDocument`, streamed until exactly `chunks` chunks have been emitted. */
export function* generateChunks(opts: GenerateChunksOptions): Generator<Chunk> {
  let left = opts.chunks;
  if (!Number.isInteger(left) || left < 0) {
    throw new RagError('INVALID_INPUT', `generateChunks: chunks must be a non-negative integer, got ${left}`);
  }
  if (left === 0) return;
  for (const doc of generateDocs({ ...opts, docs: Number.MAX_SAFE_INTEGER })) {
    for (const chunk of chunkDocument(doc, opts.chunk)) {
      yield chunk;
      if (--left === 0) return;
    }
  }
}

/**
 * How many documents `generateDocs` needs to yield about `nChunks` chunks with the given chunker: measured on the
 * first `sample` documents of the same seed (default 500), so the estimate is deterministic. With the defaults
 * (6–14 sentences per doc, chunks of 200 words overlapping by 40) a Brown-trained document gives about 1.5 chunks.
 * For an exact count use `generateChunks`.
 */
export function docsForChunks(
  nChunks: number,
  opts: Omit<GenerateOptions, 'docs'> & { chunk?: ChunkOptions; sample?: number },
): number {
  if (nChunks <= 0) return 0;
  return Math.ceil(nChunks / chunksPerDoc(opts));
}

/** Average chunks per generated document (see `docsForChunks`). */
export function chunksPerDoc(opts: Omit<GenerateOptions, 'docs'> & { chunk?: ChunkOptions; sample?: number }): number {
  const sample = opts.sample ?? 500;
  let chunks = 0;
  for (const doc of generateDocs({ ...opts, docs: sample })) chunks += chunkDocument(doc, opts.chunk).length;
  return chunks / sample;
}
