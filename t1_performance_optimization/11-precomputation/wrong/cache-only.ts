/**
 * Wrong (on purpose): the popular queries are precomputed and served from a cache (and the cache is dropped on every
 * add, so it is never stale), but everything else is still computed per query: each miss recounts every document
 * frequency, derives the IDF and recomputes the weights and the norm of every document it scores. The log's head
 * got fast; its long tail of rare queries, which no cache can hold, did not.
 *
 * @rejected-with IDF and document weights were recomputed for a query
 */
import { defaultAnalyzer } from '../../../shared/text/analyzer.ts';
import { RagError } from '../../../shared/errors.ts';
import { TopK } from '../../../shared/util/topk.ts';
import type { ScoredLabel } from '../../../shared/types.ts';

export type Hit = ScoredLabel;

export interface CacheStats {
  /** Searches answered from precomputed results. */
  hits: number;
  /** Searches computed on the spot. */
  misses: number;
  /** Queries whose results are currently precomputed. */
  entries: number;
}

export interface TfIdfSearcher {
  /** Documents indexed; labels are 0 … size − 1 in the order added. */
  readonly size: number;
  /** Index one more document; returns its label. */
  add(text: string): number;
  /** The k best documents for `query`, best first (ties: lower label first); documents sharing no term are left out. */
  search(query: string, k: number): Hit[];
  /** Compute and keep the results of these (popular) queries, for k up to `k` (default 10). */
  precompute(queries: string[], k?: number): void;
  stats(): CacheStats;
}

export function createSearcher(texts: string[] = []): TfIdfSearcher {
  const docs: Map<string, number>[] = [];
  /** Precomputed answers by query key (the analysed terms), and the k each popular key is kept for. */
  const cache = new Map<string, Hit[]>();
  const popular = new Map<string, number>();
  let hits = 0;
  let misses = 0;

  const add = (text: string): number => {
    if (typeof text !== 'string') throw new RagError('INVALID_INPUT', `add: text must be a string, got ${typeof text}`);
    const tf = new Map<string, number>();
    for (const t of defaultAnalyzer.analyze(text)) tf.set(t, (tf.get(t) ?? 0) + 1);
    docs.push(tf);
    cache.clear(); // the answers depend on every document
    return docs.length - 1;
  };
  for (const t of texts) add(t);

  /** Everything from scratch: document frequencies, IDF, the query vector, every document's weights and norm. */
  const compute = (tokens: string[], k: number): Hit[] => {
    const n = docs.length;
    const df = new Map<string, number>();
    for (const d of docs) for (const t of d.keys()) df.set(t, (df.get(t) ?? 0) + 1);
    const idf = (t: string) => Math.log(1 + n / df.get(t)!);
    const qtf = new Map<string, number>();
    for (const t of tokens) if (df.has(t)) qtf.set(t, (qtf.get(t) ?? 0) + 1);
    if (qtf.size === 0) return [];
    const qTerms = [...qtf.keys()];
    const qw = qTerms.map((t) => (1 + Math.log(qtf.get(t)!)) * idf(t));
    let qss = 0;
    for (const w of qw) qss += w * w;
    const qn = Math.sqrt(qss);
    const top = new TopK(Math.min(k, n));
    docs.forEach((d, label) => {
      let dot = 0;
      for (let i = 0; i < qTerms.length; i++) {
        const tf = d.get(qTerms[i]);
        if (tf !== undefined) dot += qw[i] * ((1 + Math.log(tf)) * idf(qTerms[i]));
      }
      if (dot === 0) return;
      let dss = 0;
      for (const [t, tf] of d) {
        const w = (1 + Math.log(tf)) * idf(t);
        dss += w * w;
      }
      top.push(label, dot / (qn * Math.sqrt(dss)));
    });
    return top.drain();
  };

  return {
    get size() {
      return docs.length;
    },
    add,
    search(query: string, k: number): Hit[] {
      if (!Number.isInteger(k) || k <= 0) throw new RagError('INVALID_INPUT', `search: k must be a positive integer, got ${k}`);
      if (typeof query !== 'string') throw new RagError('INVALID_INPUT', `search: query must be a string, got ${typeof query}`);
      const tokens = defaultAnalyzer.analyze(query);
      const key = tokens.join(' ');
      const keep = popular.get(key);
      const cached = keep !== undefined && k <= keep ? cache.get(key) : undefined;
      if (cached !== undefined) {
        hits++;
        return cached.slice(0, k).map((h) => ({ ...h }));
      }
      misses++;
      if (keep === undefined) return compute(tokens, k);
      const answer = compute(tokens, Math.max(k, keep));
      cache.set(key, answer);
      return answer.slice(0, k).map((h) => ({ ...h }));
    },
    precompute(queries: string[], k = 10) {
      if (!Number.isInteger(k) || k <= 0) throw new RagError('INVALID_INPUT', `precompute: k must be a positive integer, got ${k}`);
      for (const q of queries) {
        const tokens = defaultAnalyzer.analyze(q);
        const key = tokens.join(' ');
        const kk = Math.max(k, popular.get(key) ?? 0);
        popular.set(key, kk);
        cache.set(key, compute(tokens, kk));
      }
    },
    stats() {
      return { hits, misses, entries: cache.size };
    },
  };
}
