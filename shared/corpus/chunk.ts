import { createHash } from 'node:crypto';
import { RagError } from '../errors.ts';
import { sentenceSpanSteps } from '../text/sentences.ts';
import type { Chunk, Doc, Metadata } from '../types.ts';

export interface ChunkOptions {
  /** Most words (whitespace-separated) in a chunk. Default 200. */
  maxTokens?: number;
  /** Words of trailing whole sentences repeated at the start of the next chunk. Default 40. */
  overlapTokens?: number;
}

/**
 * Checks an untrusted document and returns it typed. Throws RagError('INVALID_INPUT', 'document #i: ...') naming
 * the first problem: not an object, `id` not a non-empty string, `text` not a string, `title` not a string,
 * `metadata` not an object of string / number / boolean values.
 */
export function validateDoc(doc: unknown, index: number): Doc {
  const fail = (why: string): never => {
    throw new RagError('INVALID_INPUT', `document #${index}: ${why}`);
  };
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) return fail('expected an object');
  const d = doc as Record<string, unknown>;
  if (typeof d.id !== 'string' || d.id.length === 0) return fail(`id must be a non-empty string, got ${describe(d.id)}`);
  const at = `document #${index} (${d.id})`;
  if (typeof d.text !== 'string') throw new RagError('INVALID_INPUT', `${at}: text must be a string, got ${describe(d.text)}`);
  if (d.title !== undefined && typeof d.title !== 'string') {
    throw new RagError('INVALID_INPUT', `${at}: title must be a string when present, got ${describe(d.title)}`);
  }
  if (d.metadata !== undefined) {
    const m = d.metadata;
    if (m === null || typeof m !== 'object' || Array.isArray(m)) {
      throw new RagError('INVALID_INPUT', `${at}: metadata must be an object when present, got ${describe(m)}`);
    }
    for (const [key, value] of Object.entries(m)) {
      const t = typeof value;
      if (t !== 'string' && t !== 'boolean' && !(t === 'number' && Number.isFinite(value))) {
        throw new RagError(
          'INVALID_INPUT',
          `${at}: metadata.${key} must be a string, finite number or boolean, got ${describe(value)}`,
        );
      }
    }
  }
  const out: Doc = { id: d.id, text: d.text };
  if (d.title !== undefined) out.title = d.title as string;
  if (d.metadata !== undefined) out.metadata = d.metadata as Metadata;
  return out;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return v.length === 0 ? 'an empty string' : 'a string';
  if (typeof v === 'number' && !Number.isFinite(v)) return String(v);
  return typeof v;
}

/** Stable content id: the first 16 hex characters of sha1(docId NUL position NUL text). */
export function chunkId(docId: string, position: number, text: string): string {
  return createHash('sha1').update(`${docId}\u0000${position}\u0000${text}`).digest('hex').slice(0, 16);
}

/** A run of words that is never split between chunks: a sentence, or a piece of an over-long sentence. */
interface Unit {
  text: string;
  words: number;
}

/**
 * Cuts a document into retrieval chunks, sentence-aware: whole sentences are packed until the next one would pass
 * `maxTokens`; the next chunk starts with the trailing sentences of the previous one that fit in `overlapTokens`
 * (and still leave room for new text). A sentence longer than `maxTokens` is cut at word boundaries into pieces of
 * `overlapTokens` words (or `maxTokens` when overlap is 0), which then pack and overlap like sentences.
 * Whitespace inside a chunk is collapsed to single spaces. A document without words yields no chunk.
 *
 * Chunks carry `docId`, `position` (0-based), the doc's `title`, a copy of its `metadata`, and `tokens` (word count).
 */
export function chunkDocument(doc: Doc, opts: ChunkOptions = {}): Chunk[] {
  const steps = chunkDocumentSteps(doc, opts);
  let r = steps.next();
  while (!r.done) r = steps.next();
  return r.value;
}

/** Sentences (or pieces) between two pauses of `chunkDocumentSteps`. */
const UNITS_PER_STEP = 64;

/**
 * `chunkDocument` in steps: the generator pauses (yields) every few thousand characters of sentence splitting and every
 * few hundred sentences of packing, and returns the same chunks, so a caller cutting a long document (the engine's
 * ingest) can let other work run in between. Options are checked before the first pause.
 */
export function* chunkDocumentSteps(doc: Doc, opts: ChunkOptions = {}): Generator<void, Chunk[], void> {
  const maxTokens = opts.maxTokens ?? 200;
  const overlapTokens = opts.overlapTokens ?? 40;
  if (!Number.isInteger(maxTokens) || maxTokens < 1) {
    throw new RagError('INVALID_INPUT', `chunk maxTokens must be a positive integer, got ${maxTokens}`);
  }
  if (!Number.isInteger(overlapTokens) || overlapTokens < 0 || overlapTokens >= maxTokens) {
    throw new RagError(
      'INVALID_INPUT',
      `chunk overlapTokens must be an integer from 0 to maxTokens - 1 (${maxTokens - 1}), got ${overlapTokens}`,
    );
  }
  const pieceSize = overlapTokens > 0 ? overlapTokens : maxTokens;
  const units: Unit[] = [];
  const spans = yield* sentenceSpanSteps(doc.text);
  for (let s = 0; s < spans.length; s += 2) {
    if (s > 0 && (s / 2) % UNITS_PER_STEP === 0) yield;
    const sentence = doc.text.slice(spans[s], spans[s + 1]);
    const words = sentence.split(/\s+/).filter((w) => w.length > 0);
    if (words.length === 0) continue;
    if (words.length <= maxTokens) {
      units.push({ text: words.join(' '), words: words.length });
    } else {
      for (let i = 0; i < words.length; i += pieceSize) {
        const piece = words.slice(i, i + pieceSize);
        units.push({ text: piece.join(' '), words: piece.length });
      }
    }
  }

  const chunks: Chunk[] = [];
  const emit = (parts: Unit[], words: number) => {
    const text = parts.map((u) => u.text).join(' ');
    const position = chunks.length;
    const chunk: Chunk = {
      id: chunkId(doc.id, position, text),
      docId: doc.id,
      position,
      text,
      tokens: words,
      metadata: { ...doc.metadata },
    };
    if (doc.title !== undefined) chunk.title = doc.title;
    chunks.push(chunk);
  };

  let current: Unit[] = [];
  let words = 0;
  let fresh = 0; // units in `current` not carried over from the previous chunk
  for (let u = 0; u < units.length; u++) {
    if (u > 0 && u % UNITS_PER_STEP === 0) yield;
    const unit = units[u];
    if (fresh > 0 && words + unit.words > maxTokens) {
      emit(current, words);
      // carry the trailing units that fit in the overlap and leave room for `unit`
      let start = current.length;
      let carried = 0;
      while (start > 0) {
        const w = current[start - 1].words;
        if (carried + w > overlapTokens || carried + w + unit.words > maxTokens) break;
        carried += w;
        start--;
      }
      current = current.slice(start);
      words = carried;
      fresh = 0;
    }
    current.push(unit);
    words += unit.words;
    fresh++;
  }
  if (fresh > 0) emit(current, words);
  return chunks;
}

/** The text a chunk is indexed and embedded under: its document title, then its own text. */
export function indexText(c: Chunk): string {
  return c.title ? `${c.title}\n${c.text}` : c.text;
}
