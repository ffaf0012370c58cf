/**
 * The lesson's data: the engine's corpus at scale (Brown documents, grown with documents generated from a bigram
 * model of them, as `npm run index -- --scale N` does), a seeded edit of a fraction of its documents, and counting
 * wrappers for the embedder and analyzer (the checkpoint's and the benchmark's measure of work).
 */
import { loadBrown } from '../../shared/corpus/brown.ts';
import { chunkDocument, indexText, type ChunkOptions } from '../../shared/corpus/chunk.ts';
import { docsForChunks, generateDocs, trainTextModel, type TextModel } from '../../shared/corpus/generate.ts';
import { createDefaultEmbedder } from '../../shared/embed/sif.ts';
import type { Analyzer } from '../../shared/text/analyzer.ts';
import type { Doc, Embedder } from '../../shared/types.ts';
import { mulberry32 } from '../../shared/util/random.ts';

export interface CorpusSize {
  /** The first n Brown documents (long: about 13 chunks each). */
  brownDocs: number;
  /** Grown with generated documents (about 1.4 chunks each) to about this many chunks in all. */
  chunks: number;
}

export interface Corpus {
  docs: Doc[];
  /** The bigram model the generated documents (and the edit's new text) come from. */
  model: TextModel;
}

/**
 * Brown's first `brownDocs` documents, then generated ones (seed 42) up to about `chunks` chunks: as many documents as
 * `docsForChunks` estimates (the same estimate `npm run index -- --scale` starts from).
 */
export async function loadCorpus(size: CorpusSize, log: (msg: string) => void = () => {}): Promise<Corpus> {
  const brown = await loadBrown({ limit: size.brownDocs });
  log(`training the text model on ${brown.length} Brown documents`);
  const model = trainTextModel(brown);
  let brownChunks = 0;
  for (const d of brown) brownChunks += chunkDocument(d).length;
  const want = docsForChunks(size.chunks - brownChunks, { model });
  log(`generating ${want} documents to grow ${brownChunks} Brown chunks to about ${size.chunks}`);
  return { docs: [...brown, ...generateDocs({ model, docs: want, seed: 42 })], model };
}

/** How the edit changes a document it picked to change (in rotation). */
export const CHANGE_KINDS = ['append', 'reword', 'retitle', 'relabel'] as const;
export type ChangeKind = (typeof CHANGE_KINDS)[number];

export interface EditSummary {
  /** Documents of the old version. */
  documents: number;
  removed: string[];
  added: string[];
  changed: Record<ChangeKind, string[]>;
}

export interface EditOptions {
  model: TextModel;
  /** Fraction of the documents touched: a quarter removed, half changed, and as many added as a quarter. */
  fraction: number;
  seed: number;
}

/** A few sentences of generated text. */
function sentences(model: TextModel, seed: number, n: number): string {
  const [doc] = generateDocs({ model, docs: 1, seed, sentencesPerDoc: [n, n], sentencesPerParagraph: [n, n] });
  return doc.text;
}

/** `text` with one word near the middle (letters only, so no sentence boundary moves) replaced by `word`. */
export function rewordMiddle(text: string, word: string): string {
  const parts = text.split(/(\s+)/); // words at even indexes, whitespace at odd
  const mid = Math.floor(parts.length / 4) * 2;
  for (let d = 0; d < parts.length; d += 2) {
    for (const i of [mid + d, mid - d]) {
      if (i >= 0 && i < parts.length && /^[A-Za-z]{3,}$/.test(parts[i]) && parts[i] !== word) {
        parts[i] = word;
        return parts.join('');
      }
    }
  }
  return `${text} ${word}.`;
}

/**
 * A seeded edit of `fraction` of the documents, of the kinds a corpus really sees: a quarter removed, half changed
 * (in rotation: a paragraph appended, one word changed in the middle, the title changed, the genre in the metadata
 * changed) and a quarter's worth of new documents added at the end. Untouched documents are the same objects.
 */
export function editCorpus(docs: readonly Doc[], opts: EditOptions): { docs: Doc[]; edit: EditSummary } {
  const rand = mulberry32(opts.seed);
  const touched = Math.max(4, Math.round(docs.length * opts.fraction));
  // a partial Fisher–Yates shuffle picks `touched` distinct documents
  const order = Int32Array.from({ length: docs.length }, (_, i) => i);
  for (let i = 0; i < Math.min(touched, docs.length); i++) {
    const j = i + Math.floor(rand() * (docs.length - i));
    [order[i], order[j]] = [order[j], order[i]];
  }
  const nRemoved = Math.floor(touched / 4);
  const nAdded = nRemoved;
  const removed = new Set<number>();
  const changed = new Map<number, ChangeKind>();
  for (let i = 0; i < Math.min(touched, docs.length); i++) {
    if (i < nRemoved) removed.add(order[i]);
    else changed.set(order[i], CHANGE_KINDS[(i - nRemoved) % CHANGE_KINDS.length]);
  }
  const genres = opts.model.genres;
  const edit: EditSummary = { documents: docs.length, removed: [], added: [], changed: { append: [], reword: [], retitle: [], relabel: [] } };
  const out: Doc[] = [];
  docs.forEach((doc, i) => {
    if (removed.has(i)) {
      edit.removed.push(doc.id);
      return;
    }
    const kind = changed.get(i);
    if (kind === undefined) {
      out.push(doc);
      return;
    }
    edit.changed[kind].push(doc.id);
    const salt = opts.seed * 7919 + i;
    switch (kind) {
      case 'append':
        out.push({ ...doc, text: `${doc.text}\n\n${sentences(opts.model, salt, 3)}` });
        break;
      case 'reword': {
        const word = sentences(opts.model, salt, 1).split(/\s+/).find((w) => /^[A-Za-z]{3,}$/.test(w)) ?? 'revised';
        out.push({ ...doc, text: rewordMiddle(doc.text, word) });
        break;
      }
      case 'retitle':
        out.push({ ...doc, title: `${doc.title ?? doc.id} (revised)` });
        break;
      case 'relabel': {
        const genre = String(doc.metadata?.genre ?? '');
        const other = genres[(genres.indexOf(genre) + 1 + Math.floor(rand() * (genres.length - 1))) % genres.length];
        out.push({ ...doc, metadata: { ...doc.metadata, genre: other === genre ? `${genre}-revised` : other } });
        break;
      }
    }
  });
  // new ids: gen/9xxxxx, far above the generated corpus's (seeds below 100, fewer than 1,000 added per edit)
  for (const doc of generateDocs({ model: opts.model, docs: nAdded, seed: opts.seed + 104_729, firstId: 900_001 + opts.seed * 1_000 })) {
    out.push(doc);
    edit.added.push(doc.id);
  }
  return { docs: out, edit };
}

/** Texts a document's chunks are indexed under, counted (a multiset). */
function indexedTexts(doc: Doc, chunk: ChunkOptions | undefined): Map<string, number> {
  const m = new Map<string, number>();
  for (const c of chunkDocument(doc, chunk)) {
    const t = indexText(c);
    m.set(t, (m.get(t) ?? 0) + 1);
  }
  return m;
}

const sameDoc = (a: Doc, b: Doc) =>
  a === b || (a.text === b.text && a.title === b.title && JSON.stringify(a.metadata ?? {}) === JSON.stringify(b.metadata ?? {}));

/**
 * The work a change really needs, counted plainly (no hashing, no diff module): the chunks of the new version whose
 * indexed text (title + chunk text) the same document's indexed version did not have. Those, and only those, need an
 * embedding. Also: the chunks of every document that changed at all or is new (what a diff by document re-embeds).
 */
export function changedChunks(
  oldDocs: readonly Doc[],
  newDocs: readonly Doc[],
  chunk?: ChunkOptions,
): { changed: number; inChangedDocs: number } {
  const old = new Map<string, Doc>();
  for (const d of oldDocs) old.set(d.id, d);
  const latest = new Map<string, Doc>();
  for (const d of newDocs) latest.set(d.id, d);
  let changed = 0;
  let inChangedDocs = 0;
  for (const doc of latest.values()) {
    const before = old.get(doc.id);
    if (before !== undefined && sameDoc(before, doc)) continue;
    const had = before === undefined ? new Map<string, number>() : indexedTexts(before, chunk);
    for (const [text, n] of indexedTexts(doc, chunk)) {
      changed += Math.max(0, n - (had.get(text) ?? 0));
      inChangedDocs += n;
    }
  }
  return { changed, inChangedDocs };
}

/** An embedder that counts the texts it embeds (and forwards them to `inner`). No `fit`: frozen. */
export class CountingEmbedder implements Embedder {
  readonly name: string;
  readonly dim: number;
  /** Texts embedded so far. */
  texts = 0;

  constructor(private readonly inner: Embedder) {
    this.name = inner.name;
    this.dim = inner.dim;
  }

  embed(texts: string[]): Promise<Float32Array[]> {
    this.texts += texts.length;
    return this.inner.embed(texts);
  }
}

/** An analyzer that counts the texts it analyses. */
export class CountingAnalyzer implements Analyzer {
  /** Texts analysed so far. */
  texts = 0;

  constructor(private readonly inner: Analyzer) {}

  analyze(text: string): string[] {
    this.texts++;
    return this.inner.analyze(text);
  }
}

/**
 * The engine's default embedder (SIF over GloVe-100d), fitted once on (at most 20,000 of) the corpus's chunks, as an
 * `Embedder` without `fit`: every build and update embeds with the same, frozen model.
 */
export async function frozenEmbedder(docs: readonly Doc[], log: (msg: string) => void = () => {}): Promise<Embedder> {
  const sif = await createDefaultEmbedder({ log });
  const step = Math.max(1, Math.floor(docs.length / 15_000));
  const texts: string[] = [];
  for (let i = 0; i < docs.length && texts.length < 20_000; i += step) for (const c of chunkDocument(docs[i])) texts.push(indexText(c));
  await sif.fit(texts);
  return { name: sif.name, dim: sif.dim, embed: (t) => sif.embed(t) };
}
