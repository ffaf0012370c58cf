/**
 * Wrong (on purpose): the tables are rebuilt after a document is added, but the precomputed answers are kept. The
 * popular queries, the ones asked most, keep getting the ranking of an index that no longer exists: a new document
 * that is now their best match never shows up for them, and every score they return is computed with the old N.
 *
 * What differs from after.ts: add, which keeps the precomputed answers; the rest is after.ts's searcher.
 * after.ts does not export its searcher class (exercise.ts would then have to export one too, and give the solution
 * away), so this file takes the class from one of its instances and subclasses it, reaching by name the private
 * fields its `add` touches.
 *
 * @rejected-with was answered from a precomputed result older than the last add
 */
import { createSearcher as createPrecomputed, type Hit, type TfIdfSearcher } from '../after.ts';

export type { CacheStats, Hit, TfIdfSearcher } from '../after.ts';

/** after.ts's searcher class, with the private state this variant touches. */
const PrecomputedTfIdf = createPrecomputed().constructor as unknown as new () => TfIdfSearcher & { cache: Map<string, Hit[]> };

class StaleCache extends PrecomputedTfIdf {
  override add(text: string): number {
    const kept = [...this.cache];
    const label = super.add(text); // the tables depend on N: rebuilt at the next search
    for (const [key, hits] of kept) this.cache.set(key, hits); // the popular answers are kept: they were expensive
    return label;
  }
}

export function createSearcher(texts: string[] = []): TfIdfSearcher {
  const s = new StaleCache();
  for (const t of texts) s.add(t);
  return s;
}
