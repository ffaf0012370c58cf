import { beforeAll, describe, expect, it } from 'vitest';
import { loadBrown } from '../corpus/brown.ts';
import { createDefaultEmbedder, type SifEmbedder } from '../embed/sif.ts';
import { splitSentences } from '../text/sentences.ts';
import { expectRagError } from '../util/expect-rag-error.ts';
import { gaussian, mulberry32 } from '../util/random.ts';
import {
  buildStudentModel,
  createStudentEmbedder,
  distillSif,
  nearestRows,
  overlaps,
  principalAxes,
  projectRows,
  studentTokenIds,
  symmetricEigen,
  teacherEmbeddings,
  teacherModel,
  teacherTokens,
  topNeighbours,
  withoutComponent,
} from './distill.ts';
import { embedAll, openSession } from './session.ts';
import { corpusVocabulary, sifTokenIds } from './static-sif.ts';

/**
 * The engine side of distillation: the linear algebra (Jacobi eigen-decomposition, weighted/centred PCA, projection)
 * against hand-checked cases, the student graph against the same arithmetic in TypeScript, and the recipe's defining
 * property: at the teacher's width the student is the teacher rotated (every cosine equal within float32 rounding),
 * on Brown sentences the teacher was fitted on and on held-out ones.
 */

function dot(a: ArrayLike<number>, ao: number, b: ArrayLike<number>, bo: number, d: number): number {
  let s = 0;
  for (let j = 0; j < d; j++) s += a[ao + j] * b[bo + j];
  return s;
}

describe('symmetricEigen', () => {
  it('finds the eigenpairs of a known matrix, largest first, unit vectors with a positive largest coordinate', () => {
    // Q diag(5, 3, 1) Qᵀ for a rotation Q
    const c = Math.cos(0.3);
    const s = Math.sin(0.3);
    const q = [
      [c, -s, 0],
      [s, c, 0],
      [0, 0, 1],
    ];
    const lam = [1, 5, 3];
    const m = new Float64Array(9);
    for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) for (let k = 0; k < 3; k++) m[i * 3 + j] += q[i][k] * lam[k] * q[j][k];
    const { values, vectors } = symmetricEigen(m, 3);
    expect(Array.from(values).map((v) => +v.toFixed(10))).toEqual([5, 3, 1]);
    // eigenvector of 5 is Q's second column (−s, c, 0), sign-fixed so that its largest |coordinate| is positive
    expect(vectors[0]).toBeCloseTo(-s, 10);
    expect(vectors[1]).toBeCloseTo(c, 10);
    expect(vectors[2]).toBeCloseTo(0, 10);
    // eigenvalue 3: (0, 0, 1); eigenvalue 1: Q's first column (c, s, 0)
    expect(vectors[1 * 3 + 2]).toBeCloseTo(1, 10);
    expect(vectors[2 * 3 + 0]).toBeCloseTo(c, 10);
    expect(vectors[2 * 3 + 1]).toBeCloseTo(s, 10);
  });

  it('reconstructs a random 100 × 100 covariance: A v = λ v, V orthonormal', () => {
    const n = 100;
    const draw = gaussian(mulberry32(3));
    const x = Float64Array.from({ length: 300 * n }, () => draw());
    const a = new Float64Array(n * n);
    for (let r = 0; r < 300; r++) for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) a[i * n + j] += x[r * n + i] * x[r * n + j];
    const { values, vectors } = symmetricEigen(a, n);
    for (let k = 0; k < n; k++) {
      for (let i = 0; i < n; i++) {
        const av = dot(a, i * n, vectors, k * n, n);
        expect(Math.abs(av - values[k] * vectors[k * n + i])).toBeLessThan(1e-6 * values[0]);
      }
      for (let l = k; l < n; l++) expect(dot(vectors, k * n, vectors, l * n, n)).toBeCloseTo(k === l ? 1 : 0, 9);
      if (k > 0) expect(values[k]).toBeLessThanOrEqual(values[k - 1]);
    }
  });

  it('rejects a matrix of the wrong size', () => {
    expectRagError(() => symmetricEigen(new Float64Array(5), 2), /2 × 2 needs 4 values/);
  });
});

describe('principalAxes / projectRows', () => {
  // points along (1, 1, 0)/√2 with spread 3, along (1, −1, 0)/√2 with spread 1, offset by (10, 0, 5)
  const rows = new Float32Array([
    10 + 3 / Math.SQRT2, 3 / Math.SQRT2, 5,
    10 - 3 / Math.SQRT2, -3 / Math.SQRT2, 5,
    10 + 1 / Math.SQRT2, -1 / Math.SQRT2, 5,
    10 - 1 / Math.SQRT2, 1 / Math.SQRT2, 5,
  ]);

  it('centred: the axes of the spread, about the mean', () => {
    const a = principalAxes(rows, 3, 2);
    expect(Array.from(a.mean).map((v) => +v.toFixed(6))).toEqual([10, 0, 5]);
    expect(a.axes[0]).toBeCloseTo(Math.SQRT1_2, 5);
    expect(a.axes[1]).toBeCloseTo(Math.SQRT1_2, 5);
    expect(Math.abs(a.axes[3])).toBeCloseTo(Math.SQRT1_2, 5);
    expect(a.variances[0]).toBeCloseTo(4.5, 4);
    expect(a.variances[1]).toBeCloseTo(0.5, 4);
  });

  it('uncentred: the first axis is the offset, not the spread', () => {
    const a = principalAxes(rows, 3, 1, { centre: false });
    const off = Math.hypot(10, 5);
    // the offset (length 11.2) dominates the second moment; the spread tilts the axis by a few thousandths
    expect((a.axes[0] * 10 + a.axes[2] * 5) / off).toBeGreaterThan(0.999);
    expect(a.mean.every((v) => v === 0)).toBe(true);
  });

  it('weights count a row as often as its weight', () => {
    const twice = new Float32Array([...rows.subarray(0, 3), ...rows]);
    const a = principalAxes(rows, 3, 2, { weights: [2, 1, 1, 1] });
    const b = principalAxes(twice, 3, 2);
    for (let i = 0; i < 6; i++) expect(a.axes[i]).toBeCloseTo(b.axes[i], 6);
  });

  it('projects rows onto the axes without subtracting anything', () => {
    const axes = new Float32Array([0, 0, 1, 1, 0, 0]);
    expect(Array.from(projectRows(new Float32Array([1, 2, 3, 4, 5, 6]), 3, axes, 2))).toEqual([3, 1, 6, 4]);
  });

  it('rejects bad shapes and weights', () => {
    expectRagError(() => principalAxes(rows, 5, 2), /not rows of 5/);
    expectRagError(() => principalAxes(rows, 3, 4), /k must be an integer in 1\.\.3/);
    expectRagError(() => principalAxes(rows, 3, 0), /k must be/);
    expectRagError(() => principalAxes(rows, 3, 2, { weights: [1, 1] }), /2 weights for 4 rows/);
    expectRagError(() => principalAxes(rows, 3, 2, { weights: [0, 0, 0, 0] }), /weights sum to 0/);
    expectRagError(() => principalAxes(rows, 3, 2, { weights: [1, -1, 1, 1] }), /weight 1 is -1/);
    expectRagError(() => projectRows(rows, 3, new Float32Array(5), 2), /are not 2 × 3/);
  });
});

describe('nearestRows / topNeighbours / overlaps', () => {
  it('match a full sort, ties to the lower index', () => {
    const draw = gaussian(mulberry32(9));
    const d = 4;
    const rows = Float32Array.from({ length: 50 * d }, () => Math.round(draw() * 2) / 2); // coarse values: ties happen
    const got = topNeighbours(rows, d, 7);
    for (let q = 0; q < 50; q++) {
      const want = Array.from({ length: 50 }, (_, j) => j)
        .filter((j) => j !== q)
        .map((j) => [dot(rows, q * d, rows, j * d, d), j] as const)
        .sort((a, b) => b[0] - a[0] || a[1] - b[1])
        .slice(0, 7)
        .map(([, j]) => j);
      expect(Array.from(got[q])).toEqual(want);
    }
    const q2 = nearestRows(rows.subarray(0, 2 * d), rows, d, 3); // queries = the first two rows, nothing excluded
    for (let q = 0; q < 2; q++) {
      const want = Array.from({ length: 50 }, (_, j) => [dot(rows, q * d, rows, j * d, d), j] as const)
        .sort((a, b) => b[0] - a[0] || a[1] - b[1])
        .slice(0, 3)
        .map(([, j]) => j);
      expect(Array.from(q2[q])).toEqual(want);
    }
    expect(overlaps([[1, 2, 3, 4]], [[4, 9, 1, 8]])).toEqual([0.5]);
    expect(overlaps([[]], [[1]])).toEqual([1]);
  });
});

describe('the student graph', () => {
  it('is Gather → masked mean → L2 norm over the given table, id 0 the zero padding row', async () => {
    const words = ['alpha', 'beta', 'gamma'];
    const table = new Float32Array([1, 0, 0, 3, 4, 0, 0, 0, 2]);
    const student = buildStudentModel(words, table, 3);
    expect(student.rows).toBe(4);
    expect(studentTokenIds(student, ['Alpha, BETA! delta', 'delta', ''])).toEqual([Int32Array.from([1, 2]), new Int32Array(0), new Int32Array(0)]);
    const s = await openSession(student.bytes);
    const [ab, none, g] = await embedAll(s, [[1, 2], [], [3]]);
    await s.release();
    const n = Math.hypot(4, 4, 0);
    expect(Array.from(ab).map((v) => +v.toFixed(6))).toEqual([+(4 / n).toFixed(6), +(4 / n).toFixed(6), 0]);
    expect(Array.from(none)).toEqual([0, 0, 0]);
    expect(Array.from(g)).toEqual([0, 0, 1]);
  });

  it('rejects a table of the wrong size, a repeated word, no words, a bad dim', () => {
    expectRagError(() => buildStudentModel(['a', 'b'], new Float32Array(5), 3), /needs 6 values, got 5/);
    expectRagError(() => buildStudentModel(['a', 'a'], new Float32Array(6), 3), /'a' is in the vocabulary twice/);
    expectRagError(() => buildStudentModel([], new Float32Array(0), 3), /no word/);
    expectRagError(() => buildStudentModel(['a'], new Float32Array(0), 0), /dim must be a positive integer/);
  });
});

describe('distilling the SIF teacher (Brown)', () => {
  let sif: SifEmbedder;
  let fitted: string[];
  let held: string[];

  beforeAll(async () => {
    sif = await createDefaultEmbedder();
    const docs = await loadBrown({ limit: 30 });
    const sentences = docs.flatMap((d) => splitSentences(d.text.replace(/\s+/g, ' '))).filter((s) => s.trim() !== '');
    fitted = sentences.slice(0, 1500);
    held = sentences.slice(1500, 1800);
    await sif.fit(fitted);
  }, 60_000);

  it('teacherTokens: the teacher table rows for the words it uses, with counts; unknown and stop words left out', () => {
    const t = teacherTokens(sif, ['aircraft', 'the', 'qwzxvbl', 'Wing', 'aircraft'], ['aircraft wing aircraft', 'the wing']);
    expect(t.words).toEqual(['aircraft', 'wing'].sort((a, b) => sif.tables().glove.rank(a) - sif.tables().glove.rank(b)));
    const i = t.words.indexOf('aircraft');
    expect(t.counts[i]).toBe(2);
    expect(t.counts[1 - i]).toBe(2);
    const ref = sif.embedSync(['aircraft'])[0]; // the teacher's embedding of one word: its row, component removed, normalised
    const row = withoutComponent(t.rows.slice(i * 100, (i + 1) * 100), 100, t.component);
    const n = Math.hypot(...row);
    for (let j = 0; j < 100; j++) expect(Math.abs(row[j] / n - ref[j])).toBeLessThan(1e-5);
    expectRagError(() => teacherTokens(sif, ['the', 'qwzxvbl']), /no word the teacher knows/);
  });

  it('at the teacher width, the student is the teacher rotated: every pairwise cosine equal within 1e-5 (held-out sentences too)', async () => {
    const texts = [...fitted, ...held];
    const student = distillSif(sif, texts, { dim: 100 });
    const some = [...fitted.slice(0, 100), ...held.slice(0, 100)];
    const s = await openSession(student.bytes);
    const rows = await embedAll(s, student.tokenIds(some).map((a) => Array.from(a)));
    await s.release();
    const ref = sif.embedSync(some);
    let worst = 0;
    for (let i = 0; i < some.length; i++) {
      for (let j = i + 1; j < some.length; j++) worst = Math.max(worst, Math.abs(dot(rows[i], 0, rows[j], 0, 100) - dot(ref[i], 0, ref[j], 0, 100)));
    }
    expect(worst).toBeLessThan(1e-5);
  });

  it('at 48 columns keeps most of each sentence’s teacher neighbours, through createStudentEmbedder', async () => {
    const texts = [...fitted, ...held];
    const student = distillSif(sif, texts, { dim: 48 });
    expect(student.dim).toBe(48);
    expect(student.rows).toBe(corpusVocabulary(sif, texts).length + 1);
    const emb = await createStudentEmbedder(student, { intraOpNumThreads: 1 });
    const rows = await emb.embed(held);
    const flat = (xs: Float32Array[], d: number) => {
      const o = new Float32Array(xs.length * d);
      xs.forEach((r, i) => o.set(r, i * d));
      return o;
    };
    const ov = overlaps(topNeighbours(flat(sif.embedSync(held), 100), 100, 10), topNeighbours(flat(rows, 48), 48, 10));
    const mean = ov.reduce((a, b) => a + b, 0) / ov.length;
    expect(mean).toBeGreaterThan(0.7);
    // same words as the teacher's model: the student's ids cover exactly the words the teacher uses
    const t = sifTokenIds(sif, held);
    student.tokenIds(held).forEach((ids, i) => expect(ids.length).toBe(t[i].length));
  });

  it('teacherModel with a vocabulary equals the engine; teacherEmbeddings leaves zero rows out; bad dims fail', async () => {
    const texts = fitted.slice(0, 50);
    const m = teacherModel(sif, { vocabulary: corpusVocabulary(sif, texts) });
    const s = await openSession(m.bytes);
    const rows = await embedAll(s, m.tokenIds(texts).map((a) => Array.from(a)));
    await s.release();
    const ref = sif.embedSync(texts);
    for (let i = 0; i < texts.length; i++) for (let j = 0; j < 100; j++) expect(Math.abs(rows[i][j] - ref[i][j])).toBeLessThan(1e-5);
    expect(teacherEmbeddings(sif, ['aircraft', 'the of and', 'wing']).length).toBe(200);
    expectRagError(() => teacherEmbeddings(sif, ['the of']), /no text has a word/);
    expectRagError(() => distillSif(sif, texts, { dim: 101 }), /dim must be an integer in 1\.\.100, got 101/);
    expectRagError(() => distillSif(sif, texts, { dim: 0 }), /got 0/);
  });
});
