/**
 * Wrong (on purpose): the popular queries are precomputed and served from a cache (and the cache is dropped on every
 * add, so it is never stale), but everything else is still computed per query: each miss recounts every document
 * frequency, derives the IDF and recomputes the weights and the norm of every document it scores. The log's head
 * got fast; its long tail of rare queries, which no cache can hold, did not.
 *
 * What differs from after.ts: everything but the cache: the searcher behind the cache is before.ts's, which computes
 * every query from scratch; the cache in front of it (popular keys, dropped on add, copies out) works as after.ts's.
 *
 * @rejected-with IDF and document weights were recomputed for a query
 */
import { RagError } from '../../../shared/errors.ts';
import { defaultAnalyzer } from '../../../shared/text/analyzer.ts';
import type { Hit, TfIdfSearcher } from '../after.ts';
import { createSearcher as createFromScratch } from '../before.ts';

export type { CacheStats, Hit, TfIdfSearcher } from '../after.ts';

export function createSearcher(texts: string[] = []): TfIdfSearcher {
  /** Everything from scratch on every search: document frequencies, IDF, the query vector, every document's norm. */
  const plain = createFromScratch(texts);
  /** Precomputed answers by query key (the analysed terms), and the k each popular key is kept for. */
  const cache = new Map<string, Hit[]>();
  const popular = new Map<string, number>();
  let hits = 0;
  let misses = 0;

  return {
    get size() {
      return plain.size;
    },
    add(text: string): number {
      const label = plain.add(text);
      cache.clear(); // the answers depend on every document
      return label;
    },
    search(query: string, k: number): Hit[] {
      if (!Number.isInteger(k) || k <= 0) throw new RagError('INVALID_INPUT', `search: k must be a positive integer, got ${k}`);
      if (typeof query !== 'string') throw new RagError('INVALID_INPUT', `search: query must be a string, got ${typeof query}`);
      const key = defaultAnalyzer.analyze(query).join(' ');
      const keep = popular.get(key);
      const cached = keep !== undefined && k <= keep ? cache.get(key) : undefined;
      if (cached !== undefined) {
        hits++;
        return cached.slice(0, k).map((h) => ({ ...h }));
      }
      misses++;
      if (keep === undefined) return plain.search(query, k);
      const answer = plain.search(query, Math.max(k, keep));
      cache.set(key, answer);
      return answer.slice(0, k).map((h) => ({ ...h }));
    },
    precompute(queries: string[], k = 10) {
      if (!Number.isInteger(k) || k <= 0) throw new RagError('INVALID_INPUT', `precompute: k must be a positive integer, got ${k}`);
      for (const q of queries) {
        const key = defaultAnalyzer.analyze(q).join(' ');
        const kk = Math.max(k, popular.get(key) ?? 0);
        popular.set(key, kk);
        cache.set(key, plain.search(q, kk));
      }
    },
    stats() {
      return { hits, misses, entries: cache.size };
    },
  };
}
