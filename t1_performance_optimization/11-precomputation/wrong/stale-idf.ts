/**
 * Wrong (on purpose): adding a document updates the tables incrementally: the new document's postings get weights and
 * it gets a norm, and the precomputed answers are dropped. But N changed, so idf(t) = ln(1 + N / df(t)) changed for
 * every term, and with it every weight, every norm and possibly every ranking. The old documents keep their old
 * weights, and every score after the first write drifts away from a fresh computation.
 *
 * What differs from after.ts: add, which patches the tables for the new document instead of marking them stale;
 * the rest is after.ts's searcher.
 * after.ts does not export its searcher class (exercise.ts would then have to export one too, and give the solution
 * away), so this file takes the class from one of its instances and subclasses it, reaching by name the private
 * fields its `add` touches.
 *
 * @rejected-with was scored with IDF, weights or norms from before the last add
 */
import { createSearcher as createPrecomputed, type TfIdfSearcher } from '../after.ts';

export type { CacheStats, Hit, TfIdfSearcher } from '../after.ts';

/** The private state of after.ts's searcher that this variant touches. */
interface Tables {
  stale: boolean;
  docTerms: Int32Array[];
  docTfs: Int32Array[];
  postings: { labels: number[]; weights: Float64Array }[];
  idf: Float64Array;
  norms: Float64Array;
  acc: Float64Array;
}

/** after.ts's searcher class. */
const PrecomputedTfIdf = createPrecomputed().constructor as unknown as new () => TfIdfSearcher & Tables;

class StaleIdf extends PrecomputedTfIdf {
  override add(text: string): number {
    const stale = this.stale;
    const label = super.add(text); // indexes the document, marks the tables stale, drops the precomputed answers
    this.stale = stale; // ... but the tables are updated here instead of rebuilt
    if (stale) return label; // the first search builds everything
    // Incremental update: weight the new document's postings and compute its norm, leave the rest as it is.
    const terms = this.docTerms[label];
    const tfs = this.docTfs[label];
    const n = this.docTerms.length;
    if (this.idf.length < this.postings.length) {
      const idf = new Float64Array(this.postings.length);
      idf.set(this.idf);
      for (let t = this.idf.length; t < idf.length; t++) idf[t] = Math.log(1 + n / this.postings[t].labels.length);
      this.idf = idf;
    }
    let dss = 0;
    for (let i = 0; i < terms.length; i++) {
      const p = this.postings[terms[i]];
      const w = new Float64Array(p.labels.length);
      w.set(p.weights);
      w[w.length - 1] = (1 + Math.log(tfs[i])) * this.idf[terms[i]];
      p.weights = w;
      dss += w[w.length - 1] * w[w.length - 1];
    }
    const norms = new Float64Array(n);
    norms.set(this.norms);
    norms[n - 1] = Math.sqrt(dss);
    this.norms = norms;
    this.acc = new Float64Array(n);
    return label;
  }
}

export function createSearcher(texts: string[] = []): TfIdfSearcher {
  const s = new StaleIdf();
  for (const t of texts) s.add(t);
  return s;
}
