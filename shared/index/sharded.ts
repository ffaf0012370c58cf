/**
 * A hash-partitioned index: N shards, each a worker thread holding the BM25 postings and the exact vectors of its
 * part of the collection, searched in parallel and merged into exactly the results one unsharded index gives.
 *
 * Three things make the merged answer equal to the unsharded one (shard-equality, checked in sharded.test.ts and by
 * t2_memory_storage_optimization/11-sharding):
 *
 * 1. **Collection statistics.** A BM25 score depends on N, the average document length and each term's document
 *    frequency. A shard that scores with its own (half the documents, its own df) gives different scores, so shards
 *    would rank against each other on different scales. The coordinator sums the shards' statistics once
 *    (`CollectionStats`) and sends those of the query's terms with every search (`QueryStats`).
 * 2. **Each shard returns its own top k.** All k best may live in one shard; asking each for k/N loses them.
 * 3. **Merge by score, ties by label.** Every shard returns its k best by (score desc, label asc), the order
 *    `Bm25Index` and `FlatIndex` use; `mergeTopK` takes the k best of the union in the same order. Merging by rank
 *    (round robin) interleaves lists whose scores are not comparable position by position.
 *
 * Pieces:
 * - `shardOf(label, shards)`: the partition (a 32-bit mix of the label, modulo N): labels given out in order, by
 *   genre or by ingest batch still spread evenly.
 * - `Bm25Shard`: one shard's postings (term → labels and term frequencies, in typed arrays), scored with given
 *   collection statistics. It uses Bm25Index's formula, float32 accumulation and term order, so scores equal
 *   Bm25Index's bit for bit. (`Bm25Index` computes idf and length normalisation from its own documents only, takes no
 *   statistics from outside and does not expose its lists; that is why a shard keeps its own. A `stats` argument on
 *   `Bm25Index.search` would let a shard be a plain Bm25Index.)
 * - `ShardWorker`: one worker thread holding one shard (a `Bm25Shard` and a `FlatIndex`), driven by messages.
 *   Vectors reach it through a SharedArrayBuffer (nothing copied on the way; the FlatIndex keeps its own normalised
 *   copy of its rows only).
 * - `ShardedIndex`: the coordinator: partition, build in parallel, collection statistics, fan out, merge.
 *
 * Threads run TypeScript through tsx: the worker is this same file, started by a small CommonJS boot script that
 * registers tsx's loader (worker threads inherit neither `--import tsx` nor vitest's transform).
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { isMainThread, parentPort, Worker, workerData, type MessagePort } from 'node:worker_threads';
import { RagError } from '../errors.ts';
import { createAnalyzer, type AnalyzerOptions } from '../text/analyzer.ts';
import type { ScoredLabel } from '../types.ts';
import { TopK } from '../util/topk.ts';
import { Bm25Index, type Bm25Options } from './bm25.ts';
import { FlatIndex } from './flat.ts';
import { MAX_LABEL } from './label.ts';

/** Bm25Index keeps term frequencies in 16 bits. */
const MAX_TF = 65_535;

// ---------------------------------------------------------------------------------------------------------------
// Partition and merge

/** The shard a label lives in: murmur3's 32-bit finaliser of the label, modulo `shards`. */
export function shardOf(label: number, shards: number): number {
  let h = label | 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return (h >>> 0) % shards;
}

/** Best first: higher score, then lower label (the order every index here returns). */
export function byScoreThenLabel(a: ScoredLabel, b: ScoredLabel): number {
  return b.score - a.score || a.label - b.label;
}

/**
 * The k best of several shards' lists (each a shard's own top k, best first), best first with ties to the lower
 * label: what one index over the union returns.
 */
export function mergeTopK(lists: readonly (readonly ScoredLabel[])[], k: number): ScoredLabel[] {
  const all: ScoredLabel[] = [];
  for (const list of lists) for (const h of list) all.push(h);
  all.sort(byScoreThenLabel);
  return all.length > k ? all.slice(0, k) : all;
}

// ---------------------------------------------------------------------------------------------------------------
// Collection statistics

/** BM25's statistics of the whole collection: what every shard must score with. */
export interface CollectionStats {
  /** Documents in all shards. */
  docs: number;
  /** Sum of their lengths (tokens). */
  totalLength: number;
  /** Documents containing each term, over all shards. */
  df: ReadonlyMap<string, number>;
}

/** The part of the collection statistics one query needs (sent with the query; small). */
export interface QueryStats {
  docs: number;
  totalLength: number;
  /** Document frequency of each of the query's terms in the whole collection (0 or absent: unknown term). */
  df: Map<string, number>;
}

/** One shard's own statistics, as `Bm25Shard.termStats` gives them. */
export interface ShardTermStats {
  docs: number;
  totalLength: number;
  terms: string[];
  /** Parallel to `terms`. */
  df: Int32Array;
}

/** The collection's statistics: the shards' document counts, lengths and document frequencies summed. */
export function collectionStats(shards: readonly ShardTermStats[]): CollectionStats {
  const df = new Map<string, number>();
  let docs = 0;
  let totalLength = 0;
  for (const s of shards) {
    docs += s.docs;
    totalLength += s.totalLength;
    for (let t = 0; t < s.terms.length; t++) df.set(s.terms[t], (df.get(s.terms[t]) ?? 0) + s.df[t]);
  }
  return { docs, totalLength, df };
}

/** The statistics a search for `tokens` needs: N, total length, and the df of each distinct token. */
export function queryStats(stats: CollectionStats, tokens: readonly string[]): QueryStats {
  const df = new Map<string, number>();
  for (const t of tokens) if (!df.has(t)) df.set(t, stats.df.get(t) ?? 0);
  return { docs: stats.docs, totalLength: stats.totalLength, df };
}

// ---------------------------------------------------------------------------------------------------------------
// One shard's postings

/**
 * One shard's BM25 postings (read-only), scored with statistics given per query: per term, the labels holding it and
 * their term frequencies, packed term after term in one Int32Array and one Uint16Array; per label, its length.
 *
 * `search(tokens, k)` scores with the shard's own statistics: exactly what a `Bm25Index` of the shard's documents
 * returns. `search(tokens, k, stats)` scores with the given (collection) statistics: merged over shards, exactly what
 * one `Bm25Index` of the whole collection returns. Same formula, float32 accumulation and term order as
 * `Bm25Index.search` (idf from N and df, terms summed from the rarest by collection df, then query position; ties to
 * the lower label); sharded.test.ts checks both equalities bit for bit. A shard keeps its own lists because a
 * `Bm25Index` scores only with its own statistics and does not expose its lists.
 */
export class Bm25Shard {
  readonly k1: number;
  readonly b: number;
  /** Documents in this shard. */
  readonly docs: number;
  /** Sum of this shard's document lengths. */
  readonly totalLength: number;
  private readonly termIds: Map<string, number>;
  private readonly terms: string[];
  /** Term t's postings are labels/tfs[start[t] .. start[t + 1]). */
  private readonly start: Int32Array;
  private readonly labels: Int32Array;
  private readonly tfs: Uint16Array;
  private readonly docLengths: Float32Array;
  /** 1 for every label this shard holds (a label with no tokens too). */
  private readonly live: Uint8Array;
  private readonly acc: Float32Array;
  private readonly touched: Int32Array;
  private readonly norm: Float32Array;
  /** The average length `norm` was computed for (NaN: not yet). */
  private normAvg = Number.NaN;

  private constructor(
    params: { k1: number; b: number },
    terms: string[],
    start: Int32Array,
    labels: Int32Array,
    tfs: Uint16Array,
    docLengths: Float32Array,
    live: Uint8Array,
    docs: number,
    totalLength: number,
  ) {
    this.k1 = params.k1;
    this.b = params.b;
    this.terms = terms;
    this.termIds = new Map(terms.map((t, i) => [t, i]));
    this.start = start;
    this.labels = labels;
    this.tfs = tfs;
    this.docLengths = docLengths;
    this.live = live;
    this.docs = docs;
    this.totalLength = totalLength;
    this.acc = new Float32Array(docLengths.length);
    this.touched = new Int32Array(docLengths.length);
    this.norm = new Float32Array(docLengths.length);
  }

  /**
   * Indexes analysed `tokens` under their `labels` (each label once). `opts` as for `Bm25Index` (k1, b; its defaults
   * and checks apply).
   */
  static build(labels: ArrayLike<number>, tokens: readonly (readonly string[])[], opts: Bm25Options = {}): Bm25Shard {
    if (labels.length !== tokens.length) {
      throw new RagError('INVALID_INPUT', `Bm25Shard.build: ${labels.length} labels but ${tokens.length} token lists`);
    }
    const params = new Bm25Index(opts); // the engine's defaults and parameter checks
    const termIds = new Map<string, number>();
    const terms: string[] = [];
    const lists: { labels: number[]; tfs: number[] }[] = [];
    let counts = new Int32Array(1024);
    let maxLabel = -1;
    let totalLength = 0;
    const seenLabels = new Set<number>();
    for (let i = 0; i < labels.length; i++) {
      const label = labels[i];
      if (!Number.isInteger(label) || label < 0 || label > MAX_LABEL) {
        throw new RagError('INVALID_INPUT', `Bm25Shard.build: label must be an integer in [0, 2^31 - 1], got ${label}`);
      }
      if (seenLabels.has(label)) throw new RagError('INVALID_INPUT', `Bm25Shard.build: label ${label} given twice`);
      seenLabels.add(label);
      if (label > maxLabel) maxLabel = label;
      const seen: number[] = [];
      for (const token of tokens[i]) {
        let id = termIds.get(token);
        if (id === undefined) {
          id = terms.length;
          termIds.set(token, id);
          terms.push(token);
          lists.push({ labels: [], tfs: [] });
          if (id === counts.length) {
            const grown = new Int32Array(counts.length * 2);
            grown.set(counts);
            counts = grown;
          }
        }
        if (counts[id]++ === 0) seen.push(id);
      }
      for (const id of seen) {
        lists[id].labels.push(label);
        lists[id].tfs.push(Math.min(counts[id], MAX_TF));
        counts[id] = 0;
      }
      totalLength += tokens[i].length;
    }
    const start = new Int32Array(terms.length + 1);
    for (let t = 0; t < terms.length; t++) start[t + 1] = start[t] + lists[t].labels.length;
    const packedLabels = new Int32Array(start[terms.length]);
    const packedTfs = new Uint16Array(start[terms.length]);
    for (let t = 0; t < terms.length; t++) {
      packedLabels.set(lists[t].labels, start[t]);
      packedTfs.set(lists[t].tfs, start[t]);
    }
    const docLengths = new Float32Array(maxLabel + 1);
    const live = new Uint8Array(maxLabel + 1);
    for (let i = 0; i < labels.length; i++) {
      docLengths[labels[i]] = tokens[i].length;
      live[labels[i]] = 1;
    }
    return new Bm25Shard(params, terms, start, packedLabels, packedTfs, docLengths, live, labels.length, totalLength);
  }

  /** True when the shard holds `label`. */
  has(label: number): boolean {
    return label >= 0 && label < this.live.length && this.live[label] === 1;
  }

  /**
   * A new shard: this one without the labels of `remove` (labels it does not hold are ignored) and with `addLabels`
   * indexed under `addTokens` (analysed, as for `build`; a label may be removed and added again in one call). This
   * shard is left unchanged, so a search in progress, or one that keeps the old object, sees the old postings: the
   * owner swaps the reference in one step (a write is all-or-nothing to searches).
   *
   * Statistics stay exact (documents, total length and each term's df count live labels only; a term no label holds
   * any more is dropped), as `Bm25Index.remove` keeps them, so scores after any sequence of updates equal a
   * `Bm25Index` given the same adds and removes, bit for bit (sharded.test.ts). Cost: one pass over the postings
   * (they are rewritten packed), so a writer applies a batch per call, not a document per call.
   */
  update(remove: Iterable<number>, addLabels: ArrayLike<number>, addTokens: readonly (readonly string[])[]): Bm25Shard {
    if (addLabels.length !== addTokens.length) {
      throw new RagError('INVALID_INPUT', `Bm25Shard.update: ${addLabels.length} labels but ${addTokens.length} token lists`);
    }
    const gone = new Set<number>();
    for (const l of remove) if (this.has(l)) gone.add(l);
    let maxLabel = this.live.length - 1;
    const seen = new Set<number>();
    for (let i = 0; i < addLabels.length; i++) {
      const label = addLabels[i];
      if (!Number.isInteger(label) || label < 0 || label > MAX_LABEL) {
        throw new RagError('INVALID_INPUT', `Bm25Shard.update: label must be an integer in [0, 2^31 - 1], got ${label}`);
      }
      if (seen.has(label) || (this.has(label) && !gone.has(label))) throw new RagError('INVALID_INPUT', `Bm25Shard.update: label ${label} is held already`);
      seen.add(label);
      if (label > maxLabel) maxLabel = label;
    }
    const size = maxLabel + 1;
    const docLengths = new Float32Array(size);
    docLengths.set(this.docLengths);
    const live = new Uint8Array(size);
    live.set(this.live);
    let totalLength = this.totalLength;
    for (const l of gone) {
      totalLength -= this.docLengths[l];
      docLengths[l] = 0;
      live[l] = 0;
    }
    // the added documents' postings, per term (new terms after the old ones)
    const termIds = new Map(this.termIds);
    const terms = this.terms.slice();
    const added: { labels: number[]; tfs: number[] }[] = [];
    const counts = new Map<number, number>();
    for (let i = 0; i < addLabels.length; i++) {
      counts.clear();
      for (const token of addTokens[i]) {
        let id = termIds.get(token);
        if (id === undefined) {
          id = terms.length;
          termIds.set(token, id);
          terms.push(token);
        }
        counts.set(id, (counts.get(id) ?? 0) + 1);
      }
      for (const [id, n] of counts) {
        const list = (added[id] ??= { labels: [], tfs: [] });
        list.labels.push(addLabels[i]);
        list.tfs.push(Math.min(n, MAX_TF));
      }
      docLengths[addLabels[i]] = addTokens[i].length;
      live[addLabels[i]] = 1;
      totalLength += addTokens[i].length;
    }
    // rewrite the lists: the old postings of labels still held, then the added ones; terms left empty are dropped
    const oldTerms = this.terms.length;
    const keptTerms: string[] = [];
    const lengths: number[] = [];
    const from: number[] = [];
    let postings = 0;
    for (let t = 0; t < terms.length; t++) {
      let n = added[t]?.labels.length ?? 0;
      if (t < oldTerms) {
        for (let i = this.start[t]; i < this.start[t + 1]; i++) if (!gone.has(this.labels[i])) n++;
      }
      if (n === 0) continue;
      keptTerms.push(terms[t]);
      lengths.push(n);
      from.push(t);
      postings += n;
    }
    const start = new Int32Array(keptTerms.length + 1);
    const labels = new Int32Array(postings);
    const tfs = new Uint16Array(postings);
    let at = 0;
    for (let j = 0; j < keptTerms.length; j++) {
      const t = from[j];
      start[j] = at;
      if (t < oldTerms) {
        for (let i = this.start[t]; i < this.start[t + 1]; i++) {
          if (gone.has(this.labels[i])) continue;
          labels[at] = this.labels[i];
          tfs[at++] = this.tfs[i];
        }
      }
      const a = added[t];
      if (a) for (let i = 0; i < a.labels.length; i++, at++) {
        labels[at] = a.labels[i];
        tfs[at] = a.tfs[i];
      }
    }
    start[keptTerms.length] = at;
    const docs = this.docs - gone.size + addLabels.length;
    return new Bm25Shard({ k1: this.k1, b: this.b }, keptTerms, start, labels, tfs, docLengths, live, docs, totalLength);
  }

  /** Distinct terms held. */
  get termCount(): number {
    return this.terms.length;
  }

  /** Postings held. */
  get postings(): number {
    return this.labels.length;
  }

  /** This shard's statistics, to be summed into the collection's (`collectionStats`). */
  termStats(): ShardTermStats {
    const df = new Int32Array(this.terms.length);
    for (let t = 0; t < df.length; t++) df[t] = this.start[t + 1] - this.start[t];
    return { docs: this.docs, totalLength: this.totalLength, terms: this.terms.slice(), df };
  }

  /**
   * The k best labels of this shard for the (analysed) query tokens, best first, ties to the lower label. Scored with
   * `stats` (the collection's, for a sharded search) or, without it, with this shard's own statistics.
   */
  search(tokens: readonly string[], k: number, stats?: QueryStats): ScoredLabel[] {
    if (!Number.isInteger(k) || k <= 0) throw new RagError('INVALID_INPUT', `Bm25Shard.search: k must be a positive integer, got ${k}`);
    const N = stats ? stats.docs : this.docs;
    const totalLength = stats ? stats.totalLength : this.totalLength;
    if (N === 0 || tokens.length === 0) return [];
    // distinct terms this shard holds, with their query frequency and collection df, in query order
    const qTerms: number[] = [];
    const qtf: number[] = [];
    const qdf: number[] = [];
    for (const token of tokens) {
      const id = this.termIds.get(token);
      if (id === undefined) continue;
      const at = qTerms.indexOf(id);
      if (at >= 0) {
        qtf[at]++;
        continue;
      }
      const df = stats ? (stats.df.get(token) ?? 0) : this.start[id + 1] - this.start[id];
      if (df <= 0) throw new RagError('INVALID_INPUT', `Bm25Shard.search: stats give term "${token}" no documents, but this shard holds it`);
      qTerms.push(id);
      qtf.push(1);
      qdf.push(df);
    }
    if (qTerms.length === 0) return [];
    this.updateNorms(totalLength / N);
    const { acc, touched, norm, labels, tfs } = this;
    const k1p1 = this.k1 + 1;
    let nTouched = 0;
    // summed from the rarest term (by collection df) to the commonest, then query position: Bm25Index's order, so
    // the float32 sums round the same way
    const order = qTerms.map((_, q) => q).sort((x, y) => qdf[x] - qdf[y] || x - y);
    for (const q of order) {
      const t = qTerms[q];
      const w = Math.log(1 + (N - qdf[q] + 0.5) / (qdf[q] + 0.5)) * qtf[q] * k1p1;
      const end = this.start[t + 1];
      for (let i = this.start[t]; i < end; i++) {
        const l = labels[i];
        const tf = tfs[i];
        const a = acc[l];
        if (a === 0) touched[nTouched++] = l;
        acc[l] = a + (w * tf) / (tf + norm[l]);
      }
    }
    const top = new TopK(Math.min(k, nTouched));
    for (let i = 0; i < nTouched; i++) {
      const l = touched[i];
      if (acc[l] > top.threshold) top.push(l, acc[l]);
    }
    let hits = top.drain();
    // equal scores at the cut: the lowest labels (TopK keeps the first seen)
    if (hits.length === k) {
      const cut = hits[k - 1].score;
      let inTop = 0;
      for (let i = k - 1; i >= 0 && hits[i].score === cut; i--) inTop++;
      const tied: number[] = [];
      for (let i = 0; i < nTouched; i++) if (acc[touched[i]] === cut) tied.push(touched[i]);
      if (tied.length > inTop) {
        tied.sort((x, y) => x - y);
        hits = hits.slice(0, k - inTop);
        for (let i = 0; i < inTop; i++) hits.push({ label: tied[i], score: cut });
      }
    }
    for (let i = 0; i < nTouched; i++) acc[touched[i]] = 0;
    return hits;
  }

  /** k1·(1 − b + b·len/avg) per label, as Bm25Index computes it (recomputed when the average changes). */
  private updateNorms(avgIn: number): void {
    const avg = avgIn > 0 ? avgIn : 1;
    if (avg === this.normAvg) return;
    const a = this.k1 * (1 - this.b);
    const c = (this.k1 * this.b) / avg;
    const { norm, docLengths } = this;
    for (let l = 0; l < norm.length; l++) norm[l] = a + c * docLengths[l];
    this.normAvg = avg;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// One shard on a worker thread

/** What a shard is built from. */
export interface ShardData {
  /** The shard's labels. */
  labels: Int32Array;
  /** The text indexed under each label (analysed in the worker), parallel to `labels`. */
  texts: readonly string[];
  /** Vectors: row `rows[i]` of the n × dim `matrix` belongs to `labels[i]`. Back the matrix by a SharedArrayBuffer
   *  to hand it to the thread without a copy. */
  vectors?: { matrix: Float32Array; dim: number; rows: Int32Array };
}

/** What a shard holds after `load`. */
export interface ShardInfo {
  docs: number;
  totalLength: number;
  terms: number;
  postings: number;
  /** Time the thread spent analysing and indexing (ms). */
  buildMs: number;
}

export interface ShardQuery {
  k: number;
  /** Analysed query terms (for BM25). */
  tokens?: readonly string[];
  /** Collection statistics of the query's terms; without them the shard scores with its own. */
  stats?: QueryStats;
  /** Query vector (exact cosine over the shard's rows). */
  vector?: Float32Array;
}

export interface ShardHits {
  text: ScoredLabel[];
  dense: ScoredLabel[];
}

export interface ShardWorkerOptions {
  bm25?: Bm25Options;
  analyzer?: AnalyzerOptions;
}

type Request =
  | { op: 'load'; data: ShardData }
  | { op: 'termStats' }
  | { op: 'search'; query: ShardQuery };

const WORKER_MARK = '__ragShardWorker';

/** CommonJS boot script of a shard thread: registers tsx (when found), then loads this module, which serves. */
const BOOT = `
const { workerData } = require('node:worker_threads');
(async () => {
  if (workerData.tsx) (await import(workerData.tsx)).register();
  await import(workerData.entry);
})().catch((err) => setImmediate(() => { throw err; }));
`;

/** tsx's ESM register API (its `import` entry: the CommonJS one resolves its own files wrongly in a worker). */
function tsxLoader(): string | undefined {
  try {
    const cjs = createRequire(import.meta.url).resolve('tsx/esm/api');
    const esm = cjs.replace(/\.cjs$/, '.mjs');
    return pathToFileURL(existsSync(esm) ? esm : cjs).href;
  } catch {
    return undefined;
  }
}

/** One worker thread holding one shard. Requests are answered in order; any number may be outstanding. */
export class ShardWorker {
  private readonly worker: Worker;
  private nextId = 0;
  private readonly pending = new Map<number, { resolve: (v: never) => void; reject: (e: Error) => void }>();
  private failure: Error | undefined;
  private closed = false;
  /** What `load` built (undefined before). */
  info: ShardInfo | undefined;

  private constructor(worker: Worker) {
    this.worker = worker;
    worker.on('message', (m: { id: number; ok: boolean; value?: unknown; error?: string }) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.ok) p.resolve(m.value as never);
      else p.reject(new RagError('SHARD_FAILED', m.error ?? 'shard request failed'));
    });
    const fail = (err: Error) => {
      this.failure ??= err;
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    };
    worker.on('error', (err) => fail(err));
    worker.on('exit', (code) => {
      if (!this.closed) fail(new RagError('SHARD_FAILED', `shard thread exited with code ${code}`));
    });
  }

  /** Starts a thread and waits until it serves. */
  static async start(opts: ShardWorkerOptions = {}): Promise<ShardWorker> {
    const worker = new Worker(BOOT, {
      eval: true,
      workerData: { [WORKER_MARK]: true, entry: import.meta.url, tsx: tsxLoader(), opts },
    });
    const shard = new ShardWorker(worker);
    await shard.call({ op: 'termStats' });
    return shard;
  }

  /** Analyses and indexes the shard's documents in the thread (replacing what it held). */
  async load(data: ShardData): Promise<ShardInfo> {
    this.info = await this.call<ShardInfo>({ op: 'load', data });
    return this.info;
  }

  /** The shard's own N, total length and document frequencies. */
  termStats(): Promise<ShardTermStats> {
    return this.call({ op: 'termStats' });
  }

  /** The shard's k best for the query's text (BM25) and vector (exact cosine), each best first. */
  search(query: ShardQuery): Promise<ShardHits> {
    return this.call({ op: 'search', query });
  }

  /** Requests sent and not yet answered. */
  get outstanding(): number {
    return this.pending.size;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.worker.terminate();
  }

  private call<T>(req: Request): Promise<T> {
    if (this.closed) return Promise.reject(new RagError('SHARD_FAILED', 'shard worker is closed'));
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: never) => void, reject });
      this.worker.postMessage({ id, req });
    });
  }
}

/** The thread side: holds one shard and answers requests. */
function serveShard(port: MessagePort, opts: ShardWorkerOptions): void {
  const analyzer = createAnalyzer(opts.analyzer);
  let text: Bm25Shard | undefined;
  let flat: FlatIndex | undefined;
  const empty: ShardTermStats = { docs: 0, totalLength: 0, terms: [], df: new Int32Array(0) };

  const handle = (req: Request): unknown => {
    switch (req.op) {
      case 'load': {
        const t0 = performance.now();
        const { labels, texts, vectors } = req.data;
        text = Bm25Shard.build(labels, texts.map((t) => analyzer.analyze(t)), opts.bm25);
        flat = undefined;
        if (vectors) {
          const { matrix, dim, rows } = vectors;
          flat = new FlatIndex({ dim, initialCapacity: Math.max(1, labels.length) });
          const views: Float32Array[] = new Array(rows.length);
          for (let i = 0; i < rows.length; i++) views[i] = matrix.subarray(rows[i] * dim, (rows[i] + 1) * dim);
          flat.add(Array.from(labels), views);
        }
        const info: ShardInfo = {
          docs: text.docs,
          totalLength: text.totalLength,
          terms: text.termCount,
          postings: text.postings,
          buildMs: performance.now() - t0,
        };
        return info;
      }
      case 'termStats':
        return text ? text.termStats() : empty;
      case 'search': {
        const q = req.query;
        const hits: ShardHits = { text: [], dense: [] };
        if (q.tokens && text) hits.text = text.search(q.tokens, q.k, q.stats);
        if (q.vector && flat) hits.dense = flat.search(q.vector, q.k);
        return hits;
      }
    }
  };

  port.on('message', ({ id, req }: { id: number; req: Request }) => {
    try {
      port.postMessage({ id, ok: true, value: handle(req) });
    } catch (err) {
      port.postMessage({ id, ok: false, error: err instanceof Error ? err.message : String(err) });
    }
  });
}

if (!isMainThread && parentPort && (workerData as Record<string, unknown> | null)?.[WORKER_MARK] === true) {
  serveShard(parentPort, (workerData as { opts: ShardWorkerOptions }).opts);
}

// ---------------------------------------------------------------------------------------------------------------
// The coordinator

/** What the sharded index is built from: labels, the text of each, and optionally their vectors. */
export interface ShardedData {
  labels: ArrayLike<number>;
  texts: readonly string[];
  /** n × dim, row i the vector of labels[i]. Copied into a SharedArrayBuffer when not already backed by one. */
  vectors?: { matrix: Float32Array; dim: number };
}

export interface ShardedIndexOptions extends ShardWorkerOptions {
  /** Number of shards (one thread each). */
  shards: number;
}

export interface ShardedQuery {
  /** Analysed terms (the same analyzer as the documents'). */
  tokens?: readonly string[];
  vector?: Float32Array;
}

/**
 * N shards on N threads behind one search: `open` partitions by `shardOf`, builds the shards in parallel and sums
 * their statistics; `search` sends the query (with the collection statistics of its terms) to every shard at once,
 * each returns its own k best, and the lists are merged by score. Results equal one unsharded Bm25Index + FlatIndex.
 */
export class ShardedIndex {
  readonly shards: readonly ShardWorker[];
  readonly stats: CollectionStats;
  /** Per shard, what it holds and how long its thread took to build it. */
  readonly info: readonly ShardInfo[];

  private constructor(shards: ShardWorker[], stats: CollectionStats, info: ShardInfo[]) {
    this.shards = shards;
    this.stats = stats;
    this.info = info;
  }

  static async open(data: ShardedData, opts: ShardedIndexOptions): Promise<ShardedIndex> {
    const n = opts.shards;
    if (!Number.isInteger(n) || n <= 0) throw new RagError('INVALID_INPUT', `ShardedIndex: shards must be a positive integer, got ${n}`);
    if (data.texts.length !== data.labels.length) {
      throw new RagError('INVALID_INPUT', `ShardedIndex: ${data.labels.length} labels but ${data.texts.length} texts`);
    }
    const matrix = data.vectors ? sharedMatrix(data.vectors.matrix) : undefined;
    const parts: { labels: number[]; rows: number[] }[] = Array.from({ length: n }, () => ({ labels: [], rows: [] }));
    for (let i = 0; i < data.labels.length; i++) {
      const p = parts[shardOf(data.labels[i], n)];
      p.labels.push(data.labels[i]);
      p.rows.push(i);
    }
    const workers = await Promise.all(parts.map(() => ShardWorker.start(opts)));
    try {
      const info = await Promise.all(
        workers.map((w, s) =>
          w.load({
            labels: Int32Array.from(parts[s].labels),
            texts: parts[s].rows.map((r) => data.texts[r]),
            ...(matrix && data.vectors ? { vectors: { matrix, dim: data.vectors.dim, rows: Int32Array.from(parts[s].rows) } } : {}),
          }),
        ),
      );
      const stats = collectionStats(await Promise.all(workers.map((w) => w.termStats())));
      return new ShardedIndex(workers, stats, info);
    } catch (err) {
      await Promise.all(workers.map((w) => w.close()));
      throw err;
    }
  }

  /** The k best for the query's text and vector over all shards, each list best first (ties: lower label). */
  async search(query: ShardedQuery, k: number): Promise<ShardHits> {
    if (!Number.isInteger(k) || k <= 0) throw new RagError('INVALID_INPUT', `ShardedIndex.search: k must be a positive integer, got ${k}`);
    const req: ShardQuery = { k };
    if (query.tokens) {
      req.tokens = query.tokens;
      req.stats = queryStats(this.stats, query.tokens);
    }
    if (query.vector) req.vector = query.vector;
    const answers = await Promise.all(this.shards.map((s) => s.search(req)));
    return {
      text: mergeTopK(answers.map((a) => a.text), k),
      dense: mergeTopK(answers.map((a) => a.dense), k),
    };
  }

  async close(): Promise<void> {
    await Promise.all(this.shards.map((s) => s.close()));
  }
}

/** `m` itself when a SharedArrayBuffer backs it, else a copy in one. */
export function sharedMatrix(m: Float32Array): Float32Array {
  if (m.buffer instanceof SharedArrayBuffer) return m;
  const out = new Float32Array(new SharedArrayBuffer(m.byteLength));
  out.set(m);
  return out;
}
