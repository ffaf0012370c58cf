import type { Analyzer } from '../text/analyzer.ts';
import { splitSentences } from '../text/sentences.ts';
import type { SentenceTable } from './sentence-table.ts';

/** Where a sentence of an answer came from. */
export interface Citation {
  docId: string;
  chunkId: string;
}

export interface AnswerSentence extends Citation {
  text: string;
  score: number;
}

export interface Answer {
  /** The answer text; each sentence ends with its citation marker [n]. Empty when nothing matched. */
  text: string;
  /** citations[n - 1] is the source of marker [n]. */
  citations: Citation[];
  sentences: AnswerSentence[];
  /** 'extractive', or 'llm' when a chat model wrote it. */
  source: 'extractive' | 'llm';
  /** Set when an LLM was configured but the extractive answer was served instead (timeout, HTTP error). */
  fallbackReason?: string;
}

export interface ExtractiveOptions {
  /** How many of the top hits to read sentences from. Default 3. */
  fromHits?: number;
  /** How many sentences the answer keeps. Default 3. */
  maxSentences?: number;
  /** Sentences longer than this many characters are skipped. Default 600. */
  maxSentenceChars?: number;
}

export interface AnswerSourceHit {
  chunkId: string;
  docId: string;
  text: string;
}

/**
 * An extractive answer: the sentences of the top hits that cover the most query terms (each distinct term counted
 * once, weighted by `termWeight`, e.g. the BM25 idf), with a small prior for higher-ranked hits and earlier
 * sentences. Sentences are returned in score order, each cited.
 */
export function extractiveAnswer(
  query: string,
  hits: AnswerSourceHit[],
  analyzer: Analyzer,
  termWeight: (term: string) => number = () => 1,
  opts: ExtractiveOptions = {},
): Answer {
  const fromHits = opts.fromHits ?? 3;
  const maxChars = opts.maxSentenceChars ?? 600;
  const queryTerms = new Set(analyzer.analyze(query));
  const candidates: AnswerSentence[] = [];
  if (queryTerms.size > 0) {
    hits.slice(0, fromHits).forEach((hit, rank) => {
      splitSentences(hit.text).forEach((sentence, pos) => {
        if (sentence.length > maxChars) return;
        const seen = new Set<string>();
        let score = 0;
        for (const t of analyzer.analyze(sentence)) {
          if (queryTerms.has(t) && !seen.has(t)) {
            seen.add(t);
            score += termWeight(t);
          }
        }
        if (score <= 0) return;
        candidates.push({ text: sentence, score: score * prior(rank, pos), docId: hit.docId, chunkId: hit.chunkId });
      });
    });
  }
  return assemble(candidates, opts.maxSentences ?? 3);
}

/**
 * The same answer as `extractiveAnswer`, from precomputed sentence analysis (answer/sentence-table.ts): `rows[i]` is
 * the table row of `hits[i]`. No splitting or analysis of hit text at query time.
 */
export function extractiveAnswerFromTable(
  query: string,
  hits: AnswerSourceHit[],
  rows: Int32Array[],
  analyzer: Analyzer,
  table: SentenceTable,
  termWeight: (term: string) => number = () => 1,
  opts: ExtractiveOptions = {},
): Answer {
  const fromHits = opts.fromHits ?? 3;
  const maxChars = opts.maxSentenceChars ?? 600;
  // distinct query terms the table knows (a term no sentence holds cannot score), with their weights
  const qIds: number[] = [];
  const qW: number[] = [];
  for (const t of analyzer.analyze(query)) {
    const id = table.termId(t);
    if (id === undefined || qIds.includes(id)) continue;
    qIds.push(id);
    qW.push(termWeight(t));
  }
  const candidates: AnswerSentence[] = [];
  if (qIds.length > 0) {
    const nh = Math.min(fromHits, hits.length);
    for (let rank = 0; rank < nh; rank++) {
      const row = rows[rank];
      const n = row[0];
      const offBase = 1 + 2 * n;
      const termBase = 2 + 3 * n;
      for (let pos = 0; pos < n; pos++) {
        const start = row[1 + 2 * pos];
        const end = row[2 + 2 * pos];
        if (end - start > maxChars) continue;
        let score = 0;
        for (let j = termBase + row[offBase + pos], e = termBase + row[offBase + pos + 1]; j < e; j++) {
          const q = qIds.indexOf(row[j]);
          if (q >= 0) score += qW[q];
        }
        if (score <= 0) continue;
        const hit = hits[rank];
        candidates.push({ text: hit.text.slice(start, end), score: score * prior(rank, pos), docId: hit.docId, chunkId: hit.chunkId });
      }
    }
  }
  return assemble(candidates, opts.maxSentences ?? 3);
}

/** Prefer higher-ranked hits and earlier sentences, but never over a better term match. */
function prior(rank: number, pos: number): number {
  return 1 + 0.1 / (rank + 1) + 0.05 / (pos + 1);
}

function assemble(candidates: AnswerSentence[], maxSentences: number): Answer {
  candidates.sort((a, b) => b.score - a.score);
  const chosen: AnswerSentence[] = [];
  const texts = new Set<string>();
  for (const c of candidates) {
    if (texts.has(c.text)) continue; // overlapping chunks repeat sentences
    texts.add(c.text);
    chosen.push(c);
    if (chosen.length >= maxSentences) break;
  }
  const citations: Citation[] = [];
  const markers = chosen.map((s) => {
    let i = citations.findIndex((c) => c.chunkId === s.chunkId);
    if (i < 0) i = citations.push({ docId: s.docId, chunkId: s.chunkId }) - 1;
    return `${s.text} [${i + 1}]`;
  });
  return { text: markers.join(' '), citations, sentences: chosen, source: 'extractive' };
}
