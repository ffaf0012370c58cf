import { chunkDocument } from '../corpus/chunk.ts';
import { splitSentences } from '../text/sentences.ts';
import { tokenize } from '../text/tokenize.ts';
import { eng as englishStopwords } from 'stopword';
import { mulberry32 } from '../util/random.ts';
import type { Doc, Qrels, Query } from '../types.ts';

/**
 * A synthetic known-item query set for a corpus that has no human judgements (the embedded Brown corpus).
 *
 * Method: with a seeded PRNG, pick `count` chunks; in each, pick one sentence with at least `minWords` content words
 * (stop words removed) and take `wordsPerQuery` of them, in their sentence order, as the query. The one relevant
 * document is the chunk's document (grade 1). It measures whether retrieval finds a passage from a handful of its
 * words — a sanity check and a latency workload, not a relevance judgement: figures on it are not comparable with
 * human-judged collections.
 */
export interface KnownItemOptions {
  /** Number of queries. Default 200. */
  count?: number;
  /** Content words per query. Default 5. */
  wordsPerQuery?: number;
  /** Minimum content words in the source sentence. Default 8. */
  minWords?: number;
  /** Default 7. */
  seed?: number;
}

export function knownItemQueries(docs: Doc[], opts: KnownItemOptions = {}): { queries: Query[]; qrels: Qrels } {
  const count = opts.count ?? 200;
  const per = opts.wordsPerQuery ?? 5;
  const minWords = Math.max(opts.minWords ?? 8, per);
  const rand = mulberry32(opts.seed ?? 7);
  const stop = new Set(englishStopwords);
  const chunks = docs.flatMap((d) => chunkDocument(d));
  const queries: Query[] = [];
  const qrels: Qrels = new Map();
  const used = new Set<number>();
  for (let attempts = 0; queries.length < count && attempts < count * 20 && used.size < chunks.length; attempts++) {
    const ci = Math.floor(rand() * chunks.length);
    if (used.has(ci)) continue;
    used.add(ci);
    const candidates = splitSentences(chunks[ci].text)
      .map((s) => tokenize(s).filter((t) => !stop.has(t) && t.length > 2 && !/^\d+$/.test(t)))
      .filter((words) => words.length >= minWords);
    if (candidates.length === 0) continue;
    const words = candidates[Math.floor(rand() * candidates.length)];
    const picked = new Set<number>();
    while (picked.size < per) picked.add(Math.floor(rand() * words.length));
    const text = [...picked].sort((a, b) => a - b).map((i) => words[i]).join(' ');
    const id = `ki-${queries.length + 1}`;
    queries.push({ id, text });
    qrels.set(id, new Map([[chunks[ci].docId, 1]]));
  }
  return { queries, qrels };
}
