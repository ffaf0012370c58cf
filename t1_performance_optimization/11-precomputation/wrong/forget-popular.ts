/**
 * Wrong (on purpose): an added document drops the precomputed answers and also forgets which queries were popular.
 * Every answer stays correct, but after the first write the cache is off for good: the popular queries are scored
 * from scratch on every ask until someone calls precompute again, and the hit rate on the log falls to zero.
 *
 * @rejected-with were served from precomputed answers again after one document was added
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

interface Postings {
  labels: number[];
  tfs: number[];
  /** (1 + ln tf) · idf per posting; valid while the index is not stale. */
  weights: Float64Array;
}

class PrecomputedTfIdf implements TfIdfSearcher {
  private readonly termIds = new Map<string, number>();
  private readonly postings: Postings[] = [];
  /** Per document: its distinct term ids and counts, in first-seen order (the order its norm is summed in). */
  private readonly docTerms: Int32Array[] = [];
  private readonly docTfs: Int32Array[] = [];

  private stale = true;
  private idf = new Float64Array(0);
  private norms = new Float64Array(0);
  private acc = new Float64Array(0);

  /** Precomputed results by query key; emptied whenever the index changes. */
  private readonly cache = new Map<string, Hit[]>();
  /** Popular query keys and the k to keep for them; survives index changes, so entries can be rebuilt. */
  private readonly popular = new Map<string, number>();
  private hits = 0;
  private misses = 0;

  get size(): number {
    return this.docTerms.length;
  }

  add(text: string): number {
    if (typeof text !== 'string') throw new RagError('INVALID_INPUT', `add: text must be a string, got ${typeof text}`);
    const label = this.docTerms.length;
    const counts = new Map<number, number>();
    for (const t of defaultAnalyzer.analyze(text)) {
      let id = this.termIds.get(t);
      if (id === undefined) {
        id = this.postings.length;
        this.termIds.set(t, id);
        this.postings.push({ labels: [], tfs: [], weights: new Float64Array(0) });
      }
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    const terms = Int32Array.from(counts.keys());
    const tfs = Int32Array.from(counts.values());
    for (let i = 0; i < terms.length; i++) {
      const p = this.postings[terms[i]];
      p.labels.push(label);
      p.tfs.push(tfs[i]);
    }
    this.docTerms.push(terms);
    this.docTfs.push(tfs);
    // N changed: every precomputed thing is stale, so forget all of it.
    this.stale = true;
    this.cache.clear();
    this.popular.clear();
    return label;
  }

  /** IDF table, posting weights and document norms for the current documents. */
  private rebuild(): void {
    const n = this.docTerms.length;
    const T = this.postings.length;
    this.idf = new Float64Array(T);
    for (let t = 0; t < T; t++) {
      const p = this.postings[t];
      const idf = Math.log(1 + n / p.labels.length);
      this.idf[t] = idf;
      const w = new Float64Array(p.tfs.length);
      for (let i = 0; i < w.length; i++) w[i] = (1 + Math.log(p.tfs[i])) * idf;
      p.weights = w;
    }
    this.norms = new Float64Array(n);
    for (let d = 0; d < n; d++) {
      const terms = this.docTerms[d];
      const tfs = this.docTfs[d];
      let dss = 0;
      for (let i = 0; i < terms.length; i++) {
        const w = (1 + Math.log(tfs[i])) * this.idf[terms[i]];
        dss += w * w;
      }
      this.norms[d] = Math.sqrt(dss);
    }
    this.acc = new Float64Array(n);
    this.stale = false;
  }

  search(query: string, k: number): Hit[] {
    if (!Number.isInteger(k) || k <= 0) throw new RagError('INVALID_INPUT', `search: k must be a positive integer, got ${k}`);
    if (typeof query !== 'string') throw new RagError('INVALID_INPUT', `search: query must be a string, got ${typeof query}`);
    const tokens = defaultAnalyzer.analyze(query);
    const key = tokens.join(' ');
    const keep = this.popular.get(key);
    if (keep !== undefined && k <= keep) {
      const cached = this.cache.get(key);
      if (cached !== undefined) {
        this.hits++;
        return cached.slice(0, k).map((h) => ({ ...h })); // copies: a caller must not be able to edit the cache
      }
    }
    this.misses++;
    if (keep === undefined) return this.compute(tokens, k);
    // A popular query whose entry was dropped by an index change: recompute it, and keep it again.
    const hits = this.compute(tokens, Math.max(k, keep));
    this.cache.set(key, hits);
    return hits.slice(0, k).map((h) => ({ ...h }));
  }

  precompute(queries: string[], k = 10): void {
    if (!Number.isInteger(k) || k <= 0) throw new RagError('INVALID_INPUT', `precompute: k must be a positive integer, got ${k}`);
    for (const q of queries) {
      const tokens = defaultAnalyzer.analyze(q);
      const key = tokens.join(' ');
      const kk = Math.max(k, this.popular.get(key) ?? 0);
      this.popular.set(key, kk);
      this.cache.set(key, this.compute(tokens, kk));
    }
  }

  stats(): CacheStats {
    return { hits: this.hits, misses: this.misses, entries: this.cache.size };
  }

  /** Score with the precomputed tables: only the postings of the query's terms are touched. */
  private compute(tokens: string[], k: number): Hit[] {
    if (this.stale) this.rebuild();
    const n = this.docTerms.length;
    const qTerms: number[] = [];
    const qtf: number[] = [];
    for (const t of tokens) {
      const id = this.termIds.get(t);
      if (id === undefined) continue;
      const at = qTerms.indexOf(id);
      if (at >= 0) qtf[at]++;
      else {
        qTerms.push(id);
        qtf.push(1);
      }
    }
    if (qTerms.length === 0) return [];
    const qw = qTerms.map((t, i) => (1 + Math.log(qtf[i])) * this.idf[t]);
    let qss = 0;
    for (const w of qw) qss += w * w;
    const qn = Math.sqrt(qss);

    const acc = this.acc;
    const touched: number[] = [];
    for (let i = 0; i < qTerms.length; i++) {
      const p = this.postings[qTerms[i]];
      const w = qw[i];
      const { labels, weights } = p;
      for (let j = 0; j < labels.length; j++) {
        const d = labels[j];
        if (acc[d] === 0) touched.push(d);
        acc[d] += w * weights[j];
      }
    }
    // Push in label order, as the full scan of before.ts does, so ties at the cut resolve the same way.
    const order = Int32Array.from(touched).sort();
    const top = new TopK(Math.min(k, n));
    for (let i = 0; i < order.length; i++) {
      const d = order[i];
      top.push(d, acc[d] / (qn * this.norms[d]));
      acc[d] = 0;
    }
    return top.drain();
  }
}

export function createSearcher(texts: string[] = []): TfIdfSearcher {
  const s = new PrecomputedTfIdf();
  for (const t of texts) s.add(t);
  return s;
}
