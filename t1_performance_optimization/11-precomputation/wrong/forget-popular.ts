/**
 * Wrong (on purpose): an added document drops the precomputed answers and also forgets which queries were popular.
 * Every answer stays correct, but after the first write the cache is off for good: the popular queries are scored
 * from scratch on every ask until someone calls precompute again, and the hit rate on the log falls to zero.
 *
 * What differs from after.ts: add, which also forgets the popular queries; the rest is after.ts's searcher.
 * after.ts does not export its searcher class (exercise.ts would then have to export one too, and give the solution
 * away), so this file takes the class from one of its instances and subclasses it, reaching by name the private
 * fields its `add` touches.
 *
 * @rejected-with were served from precomputed answers again after one document was added
 */
import { createSearcher as createPrecomputed, type TfIdfSearcher } from '../after.ts';

export type { CacheStats, Hit, TfIdfSearcher } from '../after.ts';

/** after.ts's searcher class, with the private state this variant touches. */
const PrecomputedTfIdf = createPrecomputed().constructor as unknown as new () => TfIdfSearcher & { popular: Map<string, number> };

class ForgetPopular extends PrecomputedTfIdf {
  override add(text: string): number {
    const label = super.add(text); // drops the precomputed answers, as it should
    this.popular.clear(); // N changed: every precomputed thing is stale, so forget all of it
    return label;
  }
}

export function createSearcher(texts: string[] = []): TfIdfSearcher {
  const s = new ForgetPopular();
  for (const t of texts) s.add(t);
  return s;
}
