import { createRequire } from 'node:module';
import { RagError } from '../errors.ts';
import { tokenize } from '../text/tokenize.ts';
import type { Embedder } from '../types.ts';
import { lookupFromVectors, openGloveLookup, type GloveLookup, type GloveLookupOptions, type GloveVectors, type LoadGloveOptions } from './glove-cache.ts';

// `stopword` ships no type declarations; load its English list through require with a typed cast.
const { eng } = createRequire(import.meta.url)('stopword') as { eng: string[] };

/**
 * SIF sentence embeddings (Arora, Liang & Ma, "A simple but tough-to-beat baseline for sentence embeddings", 2017) over
 * GloVe-100d word vectors:
 *
 *   1. tokens = tokenize(text) (lower-cased alphanumeric), minus English stop words (`stopword`'s `eng`), minus words
 *      without a vector;
 *   2. v(s) = (1/|s|) Σ_w  a / (a + p(w)) · v(w)      — frequent words count less;
 *   3. v(s) ← v(s) − (u·v(s)) u                       — u = first principal component of the fitted corpus's v(s)
 *                                                       (uncentred, as in the paper), learned by `fit`;
 *   4. v(s) ← v(s) / ‖v(s)‖.
 *
 * p(w) is not counted from a corpus: the GloVe vocabulary is listed by frequency rank r (0 = most frequent), and word
 * frequencies follow Zipf's law, so p(r) = (r + 1)^-s / Σ_{i=0}^{N-1} (i + 1)^-s over the N-word vocabulary, with
 * s = `zipfExponent` (default 1, the classic law; with N = 341,479 the normaliser is ≈ 13.3, so p = a at rank ≈ 2,500
 * for the default a = 3e-5: words more frequent than that are damped, rarer words weigh ≈ 1). Other exponents were
 * tried on Cranfield and changed nothing measurable (shared/embed/README.md), so the classic law stays.
 *
 * A text with no known non-stop word embeds to the all-zero row. Its cosine with every vector is 0, so it never
 * outranks a real match; callers may skip indexing such chunks, and should treat a zero query (see `isZeroVector`) as
 * "no dense signal" and fall back to lexical retrieval rather than trust its (meaningless) ranking.
 */

export interface SifOptions {
  /**
   * SIF smoothing a in a / (a + p(w)). Default 3e-5, the best of a sweep on Cranfield (shared/embed/README.md; the
   * paper's 1e-4 scored lower). With this vocabulary p = 3e-5 at rank ≈ 2,500.
   */
  a?: number;
  /** Zipf exponent s in p(r) ∝ (r + 1)^-s. Default 1. */
  zipfExponent?: number;
  /** Words to drop before weighting (compared lower-cased). Default: `stopword`'s English list. */
  stopWords?: Iterable<string>;
  /** `fit` uses at most this many texts, an evenly spaced (deterministic) subsample. Default 20,000. */
  maxFitTexts?: number;
  /** The embedder's name (what an index records). Default 'sif-glove-100d'. */
  name?: string;
}

/** What `state()` returns and `restore()` accepts: plain JSON. */
export interface SifState {
  kind: 'sif';
  version: 1;
  dim: number;
  a: number;
  zipfExponent: number;
  /** The removed principal component (unit length), or null if `fit` has not run. */
  component: number[] | null;
}

export class SifEmbedder implements Embedder {
  readonly name: string;
  readonly dim: number;
  private readonly glove: GloveLookup;
  private readonly stop: Set<string>;
  private readonly maxFitTexts: number;
  private a: number;
  private zipfExponent: number;
  /** weight[rank] = a / (a + p(rank)); 0 for stop words, so one lookup both filters and weighs. */
  private weights: Float32Array;
  private pc: Float32Array | null = null;

  /** `glove`: the whole table (`loadGlove`) or a compact lookup (`openGloveLookup`, what the default embedder uses). */
  constructor(glove: GloveVectors | GloveLookup, opts: SifOptions = {}) {
    this.glove = 'vectors' in glove ? lookupFromVectors(glove) : glove;
    this.name = opts.name ?? 'sif-glove-100d';
    this.dim = glove.dim;
    this.a = opts.a ?? 3e-5;
    this.zipfExponent = opts.zipfExponent ?? 1;
    this.maxFitTexts = opts.maxFitTexts ?? 20_000;
    this.stop = new Set([...(opts.stopWords ?? eng)].map((w) => w.toLowerCase()));
    if (!(this.a > 0)) throw new RagError('INVALID_INPUT', `SifEmbedder: a must be > 0, got ${this.a}`);
    this.weights = this.computeWeights();
  }

  private computeWeights(): Float32Array {
    const { count } = this.glove;
    const s = this.zipfExponent;
    let z = 0;
    for (let r = count - 1; r >= 0; r--) z += Math.pow(r + 1, -s); // small terms first: better float sum
    const w = new Float32Array(count);
    for (let r = 0; r < count; r++) {
      const p = Math.pow(r + 1, -s) / z;
      w[r] = this.a / (this.a + p);
    }
    for (const word of this.stop) {
      const r = this.glove.rank(word);
      if (r >= 0) w[r] = 0;
    }
    return w;
  }

  /** The removed principal component (unit length), or null before `fit`/`restore`. */
  get component(): Float32Array | null {
    return this.pc;
  }

  /** The SIF parameter a in use. */
  get smoothing(): number {
    return this.a;
  }

  /**
   * Bytes held, counted from the structures: the word-vector table and weights (typed-array byteLength) and the
   * vocabulary's characters (its word → rank Map's entries are not counted here; npm run bench:memory measures them).
   */
  memory(): { part: string; bytes: number; how: string }[] {
    return [...this.glove.memory(), { part: 'word weights', bytes: this.weights.byteLength, how: 'float32 per word' }];
  }

  async embed(texts: string[]): Promise<Float32Array[]> {
    return this.embedSync(texts);
  }

  /** `embed` without the promise: rows are subarrays of one contiguous Float32Array (texts.length × dim). */
  embedSync(texts: string[]): Float32Array[] {
    const dim = this.dim;
    const buf = new Float32Array(texts.length * dim);
    const rows: Float32Array[] = new Array(texts.length);
    for (let i = 0; i < texts.length; i++) {
      const row = buf.subarray(i * dim, (i + 1) * dim);
      if (this.average(texts[i], row)) this.finish(row);
      rows[i] = row;
    }
    return rows;
  }

  /**
   * The word lookup and the SIF weight of every rank (0 for a stop word), read-only: what an exported model of this
   * embedder folds into its table (shared/model/static-sif.ts), so both weigh words bit for bit alike.
   */
  tables(): { readonly glove: GloveLookup; readonly weights: Readonly<Float32Array> } {
    return { glove: this.glove, weights: this.weights };
  }

  /** Step 1-2: weighted average of the known non-stop words into `out` (zeroed). Returns false if none was found. */
  private average(text: string, out: Float32Array): boolean {
    const glove = this.glove;
    const weights = this.weights;
    const dim = this.dim;
    let n = 0;
    for (const tok of tokenize(text)) {
      const r = glove.rank(tok);
      if (r < 0) continue;
      const w = weights[r];
      if (w === 0) continue;
      n++;
      glove.addScaled(r, w, out);
    }
    if (n === 0) return false;
    const inv = 1 / n;
    for (let j = 0; j < dim; j++) out[j] *= inv;
    return true;
  }

  /** Steps 3-4: remove the principal component, L2-normalise. */
  private finish(row: Float32Array): void {
    const dim = this.dim;
    const u = this.pc;
    if (u) {
      let d = 0;
      for (let j = 0; j < dim; j++) d += row[j] * u[j];
      for (let j = 0; j < dim; j++) row[j] -= d * u[j];
    }
    let s = 0;
    for (let j = 0; j < dim; j++) s += row[j] * row[j];
    if (s > 0) {
      const inv = 1 / Math.sqrt(s);
      for (let j = 0; j < dim; j++) row[j] *= inv;
    }
  }

  /**
   * Learn the first principal component of the corpus's weighted averages: power iteration on the uncentred
   * second-moment matrix Σ v vᵀ (dim × dim), over at most `maxFitTexts` evenly spaced texts. Deterministic.
   */
  async fit(texts: string[]): Promise<void> {
    const dim = this.dim;
    const n = texts.length;
    const m = Math.min(n, this.maxFitTexts);
    const cov = new Float64Array(dim * dim);
    const mean = new Float64Array(dim);
    const row = new Float32Array(dim);
    let used = 0;
    for (let i = 0; i < m; i++) {
      const t = texts[m === n ? i : Math.floor((i * n) / m)];
      row.fill(0);
      if (!this.average(t, row)) continue;
      used++;
      for (let a = 0; a < dim; a++) {
        const x = row[a];
        mean[a] += x;
        const off = a * dim;
        for (let b = a; b < dim; b++) cov[off + b] += x * row[b];
      }
    }
    if (used === 0) {
      this.pc = null;
      return;
    }
    for (let a = 0; a < dim; a++) for (let b = 0; b < a; b++) cov[a * dim + b] = cov[b * dim + a];
    this.pc = principalComponent(cov, dim, mean);
  }

  state(): SifState {
    return {
      kind: 'sif',
      version: 1,
      dim: this.dim,
      a: this.a,
      zipfExponent: this.zipfExponent,
      component: this.pc ? Array.from(this.pc) : null,
    };
  }

  restore(state: unknown): void {
    const s = state as Partial<SifState> | null;
    if (!s || s.kind !== 'sif' || s.version !== 1) throw new RagError('INVALID_INPUT', 'SifEmbedder.restore: not a SIF state (v1)');
    if (s.dim !== this.dim) throw new RagError('INVALID_INPUT', `SifEmbedder.restore: state has dim ${s.dim}, embedder has ${this.dim}`);
    if (typeof s.a !== 'number' || !(s.a > 0) || typeof s.zipfExponent !== 'number') {
      throw new RagError('INVALID_INPUT', 'SifEmbedder.restore: state lacks a valid a / zipfExponent');
    }
    if (s.component != null && (!Array.isArray(s.component) || s.component.length !== this.dim)) {
      throw new RagError('INVALID_INPUT', `SifEmbedder.restore: component must have ${this.dim} numbers`);
    }
    if (s.a !== this.a || s.zipfExponent !== this.zipfExponent) {
      this.a = s.a;
      this.zipfExponent = s.zipfExponent;
      this.weights = this.computeWeights();
    }
    this.pc = s.component ? Float32Array.from(s.component) : null;
  }
}

/** Dominant eigenvector of a symmetric PSD matrix by power iteration, sign fixed (largest |coordinate| > 0). */
function principalComponent(m: Float64Array, dim: number, start: Float64Array): Float32Array {
  const v = Float64Array.from(start);
  if (norm(v) === 0) v.fill(1);
  scale(v, 1 / norm(v));
  const next = new Float64Array(dim);
  for (let it = 0; it < 1000; it++) {
    for (let a = 0; a < dim; a++) {
      let s = 0;
      const off = a * dim;
      for (let b = 0; b < dim; b++) s += m[off + b] * v[b];
      next[a] = s;
    }
    const nn = norm(next);
    if (nn === 0) break;
    scale(next, 1 / nn);
    let diff = 0;
    for (let a = 0; a < dim; a++) diff = Math.max(diff, Math.abs(next[a] - v[a]));
    v.set(next);
    if (diff < 1e-12) break;
  }
  let big = 0;
  for (let a = 1; a < dim; a++) if (Math.abs(v[a]) > Math.abs(v[big])) big = a;
  if (v[big] < 0) scale(v, -1);
  return Float32Array.from(v);
}

function norm(v: Float64Array): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i] * v[i];
  return Math.sqrt(s);
}

function scale(v: Float64Array, f: number): void {
  for (let i = 0; i < v.length; i++) v[i] *= f;
}

/** True for the all-zero row SIF returns for a text with no known non-stop word. */
export function isZeroVector(v: Float32Array): boolean {
  for (let i = 0; i < v.length; i++) if (v[i] !== 0) return false;
  return true;
}

export interface DefaultEmbedderOptions extends SifOptions, Pick<LoadGloveOptions, 'cacheDir' | 'log'>, Pick<GloveLookupOptions, 'precision'> {}

/**
 * A SIF embedder over the cached GloVe-100d vectors (built from the wink package on first use), looked up through
 * the compact `openGloveLookup` (about 36 MB instead of 165). Not yet fitted. With `precision: 'int8'` every row is
 * held as int8 codes and a scale (35.5 MB for the whole table, no file reads) and the embedder is named
 * 'sif-glove-100d-int8': its vectors differ slightly, so an index records which one built it.
 */
export async function createDefaultEmbedder(opts: DefaultEmbedderOptions = {}): Promise<SifEmbedder> {
  const precision = opts.precision ?? 'float32';
  const glove = await openGloveLookup({ cacheDir: opts.cacheDir, log: opts.log, precision });
  return new SifEmbedder(glove, { name: precision === 'int8' ? 'sif-glove-100d-int8' : undefined, ...opts });
}
