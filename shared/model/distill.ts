import { RagError } from '../errors.ts';
import type { SifEmbedder } from '../embed/sif.ts';
import { tokenize } from '../text/tokenize.ts';
import { GraphBuilder } from './onnx-build.ts';
import { OnnxEmbedder, type OnnxEmbedderOptions } from './onnx-embedder.ts';
import { buildStaticSifModel, corpusVocabulary, sifTokenIds, type StaticSifOptions } from './static-sif.ts';

/**
 * Distillation of the engine's static embedder (SIF-weighted GloVe-100d, `shared/model/static-sif.ts`) into a smaller
 * static model, Model2Vec-style: the same kind of graph (a table lookup, a masked mean, an L2 norm), with
 *
 *   1. a vocabulary cut to the words a corpus and its queries use (the teacher has 341,479);
 *   2. a table of `dim` columns instead of 100: each kept word's teacher vector, exactly as the teacher uses it (its
 *      SIF weight folded in, the teacher's common component removed), projected onto `dim` principal axes of the
 *      teacher's own embeddings of the corpus.
 *
 *   input_ids, attention_mask   int64 [batch, seq]   (0-padded; id 0 is the zero padding row)
 *   E    = Gather(student_table, input_ids)          student_table[id] = Pᵀ (t(w) − (t(w)·u) u),  t(w) = a/(a + p(w)) · v(w)
 *   m    = ReduceSum(E · mask, axis 1) / max(ReduceSum(mask), 1)
 *   embedding = m / max(‖m‖, 1e-30)                  [batch, dim]
 *
 * Why this is the teacher compressed and nothing else: the teacher's output is the normalised x = m − (m·u)u with m
 * the mean of t(w) over a text's words. Both the mean and the component removal are linear, so x = mean of
 * (t(w) − (t(w)·u)u), and a student whose rows are Pᵀ(t(w) − (t(w)·u)u) computes Pᵀx before normalising. With P
 * orthonormal and dim = 100 the student is the teacher rotated (every cosine equal); with fewer columns it keeps the
 * part of x along P, and P = the top principal axes of the teacher's embeddings of the corpus is the choice that
 * loses the least of it (least squares, over the texts the student will see).
 *
 * The building blocks are exported for the lesson (t3/04-distillation) and its wrong turns: `teacherTokens` (the
 * teacher's rows for a vocabulary, with corpus counts), `withoutComponent`, `principalAxes` (symmetric
 * eigen-decomposition by Jacobi rotations, plain typed arrays), `projectRows`, `buildStudentModel`. `distillSif` is
 * the whole recipe, what an engine option would call; `studentTokenIds` and `createStudentEmbedder` run a student
 * without the teacher (its word list is its tokenizer).
 */

/** The teacher's vectors for a vocabulary, as its table stores them, with how often the corpus uses each word. */
export interface TeacherTokens {
  /** Kept words, in teacher frequency-rank order (known to the teacher, not stop words). */
  words: string[];
  /** Their GloVe frequency ranks, ascending. */
  ranks: Int32Array;
  /** Teacher width (100). */
  dim: number;
  /** words.length × dim, row-major: a/(a + p(w)) · v(w), the row the teacher's table holds for w (float32 of the engine's product). */
  rows: Float32Array;
  /** How often each word occurs in the texts given (tokenised as the engine does). */
  counts: Float64Array;
  /** The common component the teacher removes after averaging (unit length), or null for an unfitted teacher. */
  component: Float32Array | null;
}

/**
 * The teacher's rows for `words` (unknown words and stop words are left out; duplicates kept once) and their counts in
 * `texts`. Throws RagError INVALID_INPUT when no word is left.
 */
export function teacherTokens(sif: SifEmbedder, words: Iterable<string>, texts: readonly string[] = []): TeacherTokens {
  const { glove, weights } = sif.tables();
  const wordOf = new Map<number, string>(); // rank → the word given for it (the lookup maps words to ranks only)
  for (const word of words) {
    const w = String(word).toLowerCase();
    const r = glove.rank(w);
    if (r >= 0 && weights[r] !== 0 && !wordOf.has(r)) wordOf.set(r, w);
  }
  if (wordOf.size === 0) throw new RagError('INVALID_INPUT', 'distill: the vocabulary has no word the teacher knows that is not a stop word');
  const ranks = Int32Array.from(wordOf.keys()).sort();
  const dim = sif.dim;
  const rows = new Float32Array(ranks.length * dim);
  const index = new Map<number, number>();
  for (let i = 0; i < ranks.length; i++) {
    glove.addScaled(ranks[i], weights[ranks[i]], rows.subarray(i * dim, (i + 1) * dim));
    index.set(ranks[i], i);
  }
  const counts = new Float64Array(ranks.length);
  for (const text of texts) {
    for (const tok of tokenize(text)) {
      const i = index.get(glove.rank(tok));
      if (i !== undefined) counts[i]++;
    }
  }
  return {
    words: Array.from(ranks, (r) => wordOf.get(r)!),
    ranks,
    dim,
    rows,
    counts,
    component: sif.component ? Float32Array.from(sif.component) : null,
  };
}

/** Each row minus its part along `u` (unit): x − (x·u)u, what the teacher does to a text's mean, done per word. */
export function withoutComponent(rows: Float32Array, dim: number, u: ArrayLike<number> | null): Float32Array {
  const out = Float32Array.from(rows);
  if (!u) return out;
  for (let off = 0; off < out.length; off += dim) {
    let d = 0;
    for (let j = 0; j < dim; j++) d += out[off + j] * u[j];
    for (let j = 0; j < dim; j++) out[off + j] -= d * u[j];
  }
  return out;
}

/** Eigen-decomposition of a symmetric n × n matrix: eigenvalues descending, eigenvectors as rows (unit length). */
export interface Eigen {
  values: Float64Array;
  /** n × n, row i = the eigenvector of values[i]; sign fixed so its largest |coordinate| is positive. */
  vectors: Float64Array;
}

/**
 * All eigenpairs of a symmetric matrix by cyclic Jacobi rotations (each rotation zeroes one off-diagonal pair; sweeps
 * until the off-diagonal sum of squares is below 1e-22 of the total). O(n³) per sweep, about ten sweeps: ~0.1 s for
 * n = 100 in plain JavaScript. Deterministic.
 */
export function symmetricEigen(m: Float64Array, n: number): Eigen {
  if (m.length !== n * n) throw new RagError('INVALID_INPUT', `symmetricEigen: ${n} × ${n} needs ${n * n} values, got ${m.length}`);
  const a = Float64Array.from(m);
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  let total = 0;
  for (let i = 0; i < a.length; i++) total += a[i] * a[i];
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += a[p * n + q] * a[p * n + q];
    if (off <= 1e-22 * total) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = a[p * n + q];
        if (apq === 0) continue;
        const theta = (a[q * n + q] - a[p * n + p]) / (2 * apq);
        const t = (theta >= 0 ? 1 : -1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const akp = a[k * n + p];
          const akq = a[k * n + q];
          a[k * n + p] = c * akp - s * akq;
          a[k * n + q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = a[p * n + k];
          const aqk = a[q * n + k];
          a[p * n + k] = c * apk - s * aqk;
          a[q * n + k] = s * apk + c * aqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = v[k * n + p];
          const vkq = v[k * n + q];
          v[k * n + p] = c * vkp - s * vkq;
          v[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const order = Array.from({ length: n }, (_, i) => i).sort((x, y) => a[y * n + y] - a[x * n + x] || x - y);
  const values = Float64Array.from(order, (i) => a[i * n + i]);
  const vectors = new Float64Array(n * n);
  order.forEach((col, row) => {
    let big = 0;
    for (let k = 1; k < n; k++) if (Math.abs(v[k * n + col]) > Math.abs(v[big * n + col])) big = k;
    const sign = v[big * n + col] < 0 ? -1 : 1;
    for (let k = 0; k < n; k++) vectors[row * n + k] = sign * v[k * n + col];
  });
  return { values, vectors };
}

/** The top `k` principal axes of a set of d-dimensional rows. */
export interface Axes {
  /** Input width. */
  d: number;
  k: number;
  /** k × d, row-major: orthonormal rows, the axis of largest variance first. */
  axes: Float32Array;
  /** The variance along each axis (the weighted mean square about `mean`). */
  variances: Float64Array;
  /** The (weighted) mean the covariance was taken about; zeros when `centre` is false. */
  mean: Float64Array;
}

export interface AxesOptions {
  /** One weight per row (e.g. how often a word occurs). Default: every row 1. */
  weights?: ArrayLike<number>;
  /** Take the covariance about the (weighted) mean. Default true; false: the uncentred second moment Σ w x xᵀ. */
  centre?: boolean;
}

/** The top `k` eigenvectors of the (weighted, centred) covariance of `rows` (n × d, row-major). */
export function principalAxes(rows: Float32Array, d: number, k: number, opts: AxesOptions = {}): Axes {
  if (!Number.isInteger(d) || d < 1 || rows.length % d !== 0) throw new RagError('INVALID_INPUT', `principalAxes: ${rows.length} values are not rows of ${d}`);
  if (!Number.isInteger(k) || k < 1 || k > d) throw new RagError('INVALID_INPUT', `principalAxes: k must be an integer in 1..${d}, got ${k}`);
  const n = rows.length / d;
  const w = opts.weights;
  if (w && w.length !== n) throw new RagError('INVALID_INPUT', `principalAxes: ${w.length} weights for ${n} rows`);
  let total = 0;
  const mean = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    const c = w ? w[i] : 1;
    if (!(c >= 0)) throw new RagError('INVALID_INPUT', `principalAxes: weight ${i} is ${c}`);
    total += c;
    for (let j = 0; j < d; j++) mean[j] += c * rows[i * d + j];
  }
  if (!(total > 0)) throw new RagError('INVALID_INPUT', 'principalAxes: the weights sum to 0');
  for (let j = 0; j < d; j++) mean[j] /= total;
  if (opts.centre === false) mean.fill(0);
  const cov = new Float64Array(d * d);
  const x = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    const c = w ? w[i] : 1;
    if (c === 0) continue;
    for (let j = 0; j < d; j++) x[j] = rows[i * d + j] - mean[j];
    for (let a = 0; a < d; a++) {
      const xa = c * x[a];
      const off = a * d;
      for (let b = a; b < d; b++) cov[off + b] += xa * x[b];
    }
  }
  for (let a = 0; a < d; a++) {
    for (let b = a; b < d; b++) cov[a * d + b] /= total;
    for (let b = 0; b < a; b++) cov[a * d + b] = cov[b * d + a];
  }
  const eig = symmetricEigen(cov, d);
  return { d, k, axes: Float32Array.from(eig.vectors.subarray(0, k * d)), variances: eig.values.slice(0, k), mean };
}

/** rows (n × d) → rows · axesᵀ (n × k): each row's coordinates along the k axes (k × d). Nothing is subtracted. */
export function projectRows(rows: Float32Array, d: number, axes: Float32Array, k: number): Float32Array {
  if (axes.length !== k * d) throw new RagError('INVALID_INPUT', `projectRows: ${axes.length} axis values are not ${k} × ${d}`);
  const n = rows.length / d;
  const out = new Float32Array(n * k);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < k; c++) {
      let s = 0;
      for (let j = 0; j < d; j++) s += rows[i * d + j] * axes[c * d + j];
      out[i * k + c] = s;
    }
  }
  return out;
}

/** A static model (teacher or student) as a lesson runs it: bytes, width, table, and its tokenizer. */
export interface StaticModel {
  /** The serialised ONNX model (inputs `input_ids`/`attention_mask` int64, output `embedding` float32 [batch, dim]). */
  bytes: Uint8Array;
  /** Output width. */
  dim: number;
  /** Name of the lookup-table initializer (what `quantizeGatherTable` rewrites). */
  table: string;
  /** Rows of the table, the padding row included. */
  rows: number;
  /** The ids the model takes for each text ([] → the zero row). */
  tokenIds(texts: readonly string[]): Int32Array[];
}

/** A distilled student: a static model whose word list is its tokenizer (no teacher needed to run it). */
export interface StudentModel extends StaticModel {
  /** Word of id i + 1 (id 0 pads). */
  words: string[];
  /** word → id (1..words.length). */
  ids: ReadonlyMap<string, number>;
}

/** The teacher as an ONNX static model (`buildStaticSifModel`): the whole table by default, or `vocabulary`'s words. */
export function teacherModel(sif: SifEmbedder, opts: StaticSifOptions = {}): StaticModel {
  const m = buildStaticSifModel(sif, opts);
  return { bytes: m.bytes, dim: m.dim, table: 'sif_table', rows: m.vocab.rows, tokenIds: (texts) => sifTokenIds(sif, texts, m.vocab) };
}

/** The student's table initializer name. */
export const STUDENT_TABLE = 'student_table';

/**
 * A student graph over `table` (words.length × dim, row i for words[i]); a zero padding row is added as id 0.
 * Gather → masked mean → L2 norm (a text with no known word → the zero row).
 */
export function buildStudentModel(words: readonly string[], table: Float32Array, dim: number, metadata: Record<string, string> = {}): StudentModel {
  if (!Number.isInteger(dim) || dim < 1) throw new RagError('INVALID_INPUT', `buildStudentModel: dim must be a positive integer, got ${dim}`);
  if (table.length !== words.length * dim) throw new RagError('INVALID_INPUT', `buildStudentModel: a ${words.length}-word table of width ${dim} needs ${words.length * dim} values, got ${table.length}`);
  if (words.length === 0) throw new RagError('INVALID_INPUT', 'buildStudentModel: no word');
  const ids = new Map<string, number>();
  words.forEach((w, i) => {
    if (ids.has(w)) throw new RagError('INVALID_INPUT', `buildStudentModel: '${w}' is in the vocabulary twice`);
    ids.set(w, i + 1);
  });
  const padded = new Float32Array((words.length + 1) * dim);
  padded.set(table, dim);
  const g = new GraphBuilder('static-student');
  const inIds = g.input('input_ids', 'int64', ['batch', 'seq']);
  const mask = g.input('attention_mask', 'int64', ['batch', 'seq']);
  const t = g.initializer(STUDENT_TABLE, 'float32', [words.length + 1, dim], padded);
  const emb = g.op('Gather', [t, inIds], { axis: 0 });
  const m = g.op('Cast', [mask], { to: 1 /* FLOAT */ });
  const sum = g.op('ReduceSum', [g.op('Mul', [emb, g.op('Unsqueeze', [m, g.ints([-1])])]), g.ints([1])], { keepdims: 0 });
  const n = g.op('Max', [g.op('ReduceSum', [m, g.ints([1])], { keepdims: 1 }), g.floats([1], [])]);
  const x = g.op('Div', [sum, n]);
  const norm = g.op('Sqrt', [g.op('ReduceSumSquare', [x, g.ints([1])], { keepdims: 1 })]);
  g.node('Div', [x, g.op('Max', [norm, g.floats([1e-30], [])])], {}, { outputs: ['embedding'] });
  g.output('embedding', 'float32', ['batch', dim]);
  const bytes = g.toBytes({
    docString: 'static student distilled from the SIF-weighted GloVe-100d embedder (rag-perf-lab shared/model/distill.ts)',
    metadata: { words: String(words.length), dim: String(dim), ...metadata },
  });
  const student: StudentModel = { bytes, words: [...words], dim, table: STUDENT_TABLE, rows: words.length + 1, ids, tokenIds: (texts) => studentTokenIds(student, texts) };
  return student;
}

/** The ids a student takes for each text: its tokens that are in its vocabulary (others dropped; [] → zero row). */
export function studentTokenIds(student: Pick<StudentModel, 'ids'>, texts: readonly string[]): Int32Array[] {
  return texts.map((text) => {
    const toks = tokenize(text);
    const out = new Int32Array(toks.length);
    let n = 0;
    for (const tok of toks) {
      const id = student.ids.get(tok);
      if (id !== undefined) out[n++] = id;
    }
    return out.subarray(0, n);
  });
}

export interface DistillOptions {
  /** Student width: 1..the teacher's dim. */
  dim: number;
  /** The words to keep. Default: every word of `texts` the teacher uses (`corpusVocabulary`). */
  vocabulary?: Iterable<string>;
}

/**
 * The recipe (t3/04-distillation's after.ts): vocabulary = the words of `texts` (the corpus and its queries); rows =
 * the teacher's, SIF weight in, common component out; axes = the top `dim` principal axes of the teacher's
 * embeddings of `texts` (centred); table = rows projected onto them.
 */
export function distillSif(sif: SifEmbedder, texts: readonly string[], opts: DistillOptions): StudentModel {
  const d = sif.dim;
  if (!Number.isInteger(opts.dim) || opts.dim < 1 || opts.dim > d) throw new RagError('INVALID_INPUT', `distill: dim must be an integer in 1..${d}, got ${opts.dim}`);
  const tokens = teacherTokens(sif, opts.vocabulary ?? corpusVocabulary(sif, texts), texts);
  const rows = withoutComponent(tokens.rows, d, tokens.component);
  const embedded = teacherEmbeddings(sif, texts);
  const { axes } = principalAxes(embedded, d, opts.dim);
  return buildStudentModel(tokens.words, projectRows(rows, d, axes, opts.dim), opts.dim, { teacher: sif.name, fittedOn: `${texts.length} texts` });
}

/** The teacher's embeddings of `texts` as one n × dim array (zero rows, texts without a known word, left out). */
export function teacherEmbeddings(sif: SifEmbedder, texts: readonly string[]): Float32Array {
  const rows = sif.embedSync([...texts]);
  const d = sif.dim;
  const out = new Float32Array(rows.length * d);
  let n = 0;
  for (const r of rows) {
    let nz = false;
    for (let j = 0; j < d; j++) if (r[j] !== 0) nz = true;
    if (!nz) continue;
    out.set(r, n * d);
    n++;
  }
  if (n === 0) throw new RagError('INVALID_INPUT', 'distill: no text has a word the teacher knows');
  return out.subarray(0, n * d);
}

export interface StudentEmbedderOptions extends Pick<OnnxEmbedderOptions, 'intraOpNumThreads' | 'maxTokens'> {
  /** Embedder name. Default `onnx-student-<dim>d`. */
  name?: string;
}

/** An engine `Embedder` over the student (onnxruntime), tokenising with the student's own word list. */
export function createStudentEmbedder(student: StudentModel, opts: StudentEmbedderOptions = {}): Promise<OnnxEmbedder> {
  return OnnxEmbedder.create(student.bytes, {
    name: opts.name ?? `onnx-student-${student.dim}d`,
    dim: student.dim,
    tokenize: (text) => studentTokenIds(student, [text])[0],
    intraOpNumThreads: opts.intraOpNumThreads,
    maxTokens: opts.maxTokens,
  });
}

/**
 * The `k` nearest rows of every row of `rows` (n × d, row-major) by dot product (cosine for unit rows), itself left
 * out, best first (ties: lower index first).
 */
export function topNeighbours(rows: Float32Array, d: number, k: number): Int32Array[] {
  return nearestRows(rows, rows, d, k, true);
}

/**
 * For each row of `queries` (m × d), the `k` rows of `rows` (n × d) with the largest dot product, best first (ties:
 * lower index first); `excludeSelf` leaves out row i for query i (queries = rows). m × n dot products and a bounded
 * insertion list per query: no n log n sort.
 */
export function nearestRows(queries: Float32Array, rows: Float32Array, d: number, k: number, excludeSelf = false): Int32Array[] {
  const n = rows.length / d;
  const m = queries.length / d;
  if (!Number.isInteger(n) || !Number.isInteger(m)) throw new RagError('INVALID_INPUT', `nearestRows: ${queries.length} / ${rows.length} values are not rows of ${d}`);
  const kk = Math.max(0, Math.min(k, excludeSelf ? n - 1 : n));
  const out: Int32Array[] = [];
  const best = new Float64Array(kk);
  const idx = new Int32Array(kk);
  for (let q = 0; q < m; q++) {
    let have = 0;
    const qo = q * d;
    for (let j = 0; j < n; j++) {
      if (excludeSelf && j === q) continue;
      const jo = j * d;
      let s = 0;
      for (let c = 0; c < d; c++) s += queries[qo + c] * rows[jo + c];
      if (have === kk && !(s > best[kk - 1])) continue;
      let at = have < kk ? have++ : kk - 1;
      while (at > 0 && best[at - 1] < s) {
        best[at] = best[at - 1];
        idx[at] = idx[at - 1];
        at--;
      }
      best[at] = s;
      idx[at] = j;
    }
    out.push(idx.slice(0, have));
  }
  return out;
}

/** Per list i: the share of a[i] found in b[i] (|a ∩ b| / |a|; 1 for an empty a[i]). */
export function overlaps(a: readonly ArrayLike<number>[], b: readonly ArrayLike<number>[]): number[] {
  return a.map((x, i) => {
    if (x.length === 0) return 1;
    const set = new Set(Array.from(b[i]));
    let hit = 0;
    for (let j = 0; j < x.length; j++) if (set.has(x[j])) hit++;
    return hit / x.length;
  });
}
