import { beforeAll, describe, expect, it } from 'vitest';
import { expectRagError } from '../util/expect-rag-error.ts';
import { loadBrown } from '../corpus/brown.ts';
import { createDefaultEmbedder, isZeroVector, type SifEmbedder } from '../embed/sif.ts';
import { splitSentences } from '../text/sentences.ts';
import { GraphBuilder } from './onnx-build.ts';
import { OnnxEmbedder } from './onnx-embedder.ts';
import { buildStaticSifModel, corpusVocabulary, createOnnxSifEmbedder, sifTokenIds } from './static-sif.ts';

/**
 * The checkpoint of the static model: the ONNX graph built from a fitted SifEmbedder returns the engine's embeddings.
 *
 * Tolerance. Both sides compute the same float32 quantities in a different order: the engine adds w·v(w) into a
 * float32 row word by word (each step rounded to float32), the graph gathers rows where w·v(w) is already rounded to
 * float32 and onnxruntime sums them in its own (vectorised) order; the mean, the component removal and the
 * normalisation round differently too. Each float32 operation is exact to 2^-24 ≈ 6e-8 relative; a sentence sums ~10
 * words whose vectors partly cancel, and the normalised output's components are ≤ 1, so the expected difference is a
 * few 1e-7 (measured: 5.8e-7 on 2,000 Brown sentences, shared/model/compare-static.ts). TOL = 1e-5 leaves room for
 * long texts (thousands of words) and another CPU's kernels, while a real mistake moves components by far more
 * (checked by breaking the graph: weights not folded in, or the component not removed, fail four or five of these
 * tests with differences above 1e-2).
 */
const TOL = 1e-5;

function dot(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

function maxAbsDiff(a: Float32Array[], b: Float32Array[]): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) for (let j = 0; j < a[i].length; j++) m = Math.max(m, Math.abs(a[i][j] - b[i][j]));
  return m;
}

/** Indices of the k rows most similar to row q (q excluded), best first. */
function topK(rows: Float32Array[], q: number, k: number): number[] {
  return rows
    .map((r, i) => ({ i, s: i === q ? -Infinity : dot(rows[q], r) }))
    .sort((x, y) => y.s - x.s || x.i - y.i)
    .slice(0, k)
    .map((x) => x.i);
}

const EDGE_CASES = [
  '',
  '   \n\t  ',
  '!!! ... ??? -- ;;',
  'the of and to a in is it that was he for on are as with his they',
  'qwzxvbl blorptangue zzxqwert',
  'qwzxvbl aircraft blorptangue',
  'Aircraft AIRCRAFT aircraft.',
  "don't won't o'brien's",
  'café naïve résumé',
  '1961 42 3.14159',
];

describe('static SIF model in onnxruntime', () => {
  let sif: SifEmbedder;
  let texts: string[];
  let ref: Float32Array[];

  beforeAll(async () => {
    sif = await createDefaultEmbedder();
    const docs = await loadBrown({ limit: 40 });
    const sentences = docs.flatMap((d) => splitSentences(d.text.replace(/\s+/g, ' '))).filter((s) => s.trim() !== '');
    await sif.fit(sentences.slice(0, 400));
    const longDoc = docs[0].text; // ~2,000 words
    const veryLong = docs.slice(1, 6).map((d) => d.text).join('\n\n'); // ~10,000 words
    // 300 sentences the component was not fitted on, spread over the 40 files, plus the edge cases
    const held = sentences.slice(400);
    const picked = Array.from({ length: 300 }, (_, i) => held[Math.floor((i * held.length) / 300)]);
    texts = [...picked, ...EDGE_CASES, longDoc, veryLong];
    ref = sif.embedSync(texts).map((r) => Float32Array.from(r));
  }, 120_000);

  it('matches SifEmbedder within TOL per component, with a corpus vocabulary', async () => {
    const { embedder, model } = await createOnnxSifEmbedder(sif, { vocabulary: corpusVocabulary(sif, texts), intraOpNumThreads: 1 });
    try {
      expect(model.removesComponent).toBe(true);
      expect(model.vocab.rows).toBeLessThan(20_000);
      const got = await embedder.embed(texts);
      expect(got).toHaveLength(texts.length);
      const diff = maxAbsDiff(ref, got);
      expect(diff).toBeLessThan(TOL);
      // zero rows exactly where the engine returns them: empty, punctuation, stop words only, unknown words only
      for (let i = 0; i < texts.length; i++) expect(isZeroVector(got[i])).toBe(isZeroVector(ref[i]));
      const zeros = EDGE_CASES.map((_, j) => isZeroVector(got[300 + j]));
      expect(zeros.slice(0, 5)).toEqual([true, true, true, true, true]);
      expect(zeros[5]).toBe(false); // one known word among unknown ones
      // non-zero rows are unit length
      for (const r of got) if (!isZeroVector(r)) expect(Math.abs(Math.sqrt(dot(r, r)) - 1)).toBeLessThan(1e-5);
    } finally {
      await embedder.release();
    }
  });

  it('ranks neighbours as SifEmbedder does (any swap is a near-tie)', async () => {
    const { embedder } = await createOnnxSifEmbedder(sif, { vocabulary: corpusVocabulary(sif, texts), intraOpNumThreads: 1 });
    try {
      const got = await embedder.embed(texts);
      let identical = 0;
      const queries = Array.from({ length: 40 }, (_, i) => i * 7);
      for (const q of queries) {
        const want = topK(ref, q, 10);
        const have = topK(got, q, 10);
        if (want.join() === have.join()) identical++;
        // scored by the engine, the ONNX top 10 is as good as the engine's own, position by position
        for (let k = 0; k < 10; k++) expect(dot(ref[q], ref[have[k]])).toBeCloseTo(dot(ref[q], ref[want[k]]), 4);
      }
      expect(identical).toBeGreaterThanOrEqual(queries.length - 2);
    } finally {
      await embedder.release();
    }
  });

  it('matches with the full 341k-word table too, batch cut by maxTokens', async () => {
    const { embedder, model } = await createOnnxSifEmbedder(sif, { intraOpNumThreads: 1, maxTokens: 4096 });
    try {
      expect(model.vocab.rows).toBeGreaterThan(300_000);
      // ~137 MB of float32 table: the weights dominate the file
      expect(model.bytes.length).toBeGreaterThan(model.vocab.rows * 100 * 4);
      expect(model.bytes.length).toBeLessThan(model.vocab.rows * 100 * 4 + 100_000);
      const extra = ['zebra giraffe savanna', 'quantum chromodynamics lattice'];
      const all = [...texts, ...extra];
      const want = [...ref, ...sif.embedSync(extra)];
      expect(maxAbsDiff(want, await embedder.embed(all))).toBeLessThan(TOL);
    } finally {
      await embedder.release();
    }
  }, 60_000);

  it('treats words outside a restricted vocabulary as unknown', async () => {
    const vocabulary = corpusVocabulary(sif, ['the aircraft wing']);
    expect(vocabulary.sort()).toEqual(['aircraft', 'wing']);
    const model = buildStaticSifModel(sif, { vocabulary });
    expect(model.vocab.rows).toBe(3);
    const [a, b] = sifTokenIds(sif, ['aircraft zebra wing', 'zebra giraffe'], model.vocab);
    expect([...a].sort()).toEqual([1, 2]);
    expect(b).toHaveLength(0);
    const { embedder } = await createOnnxSifEmbedder(sif, { vocabulary, intraOpNumThreads: 1 });
    try {
      const [x, y] = await embedder.embed(['aircraft zebra wing', 'zebra giraffe']);
      expect(maxAbsDiff([x], sif.embedSync(['aircraft wing']))).toBeLessThan(TOL);
      expect(isZeroVector(y)).toBe(true);
      expect(isZeroVector(sif.embedSync(['zebra giraffe'])[0])).toBe(false);
    } finally {
      await embedder.release();
    }
  });

  it('builds an unfitted embedder without the component removal, and still matches', async () => {
    const plain = await createDefaultEmbedder(); // same vectors, not fitted
    expect(plain.component).toBeNull();
    const sample = texts.slice(0, 50);
    const { embedder, model } = await createOnnxSifEmbedder(plain, { vocabulary: corpusVocabulary(plain, sample), intraOpNumThreads: 1 });
    try {
      expect(model.removesComponent).toBe(false);
      expect(maxAbsDiff(plain.embedSync(sample), await embedder.embed(sample))).toBeLessThan(TOL);
      // and the fitted model's rows differ from it: the component removal is really in the fitted graph
      expect(maxAbsDiff(ref.slice(0, 50), await embedder.embed(sample))).toBeGreaterThan(1e-2);
    } finally {
      await embedder.release();
    }
  });

  it('refuses a state of another dimension or weighting, and an empty vocabulary, with a RagError', () => {
    const state = sif.state();
    const state50 = { ...state, dim: 50, component: state.component!.slice(0, 50) };
    expectRagError(() => buildStaticSifModel(sif, { state: state50 }), /state has dim 50, the embedder's vectors have 100/);
    expectRagError(() => buildStaticSifModel(sif, { state: { ...state, component: state.component!.slice(0, 50) } }), /component must be 100 finite numbers/);
    expectRagError(() => buildStaticSifModel(sif, { state: { ...state, a: 1e-3 } }), /state has a=0.001.*restore the state into the embedder first/);
    expectRagError(() => buildStaticSifModel(sif, { vocabulary: [] }), /vocabulary has no word with a vector/);
    expectRagError(() => buildStaticSifModel(sif, { vocabulary: ['the', 'of', 'qwzxvbl'] }), /vocabulary has no word with a vector/);
    expectRagError(() => new GraphBuilder('g').node('Relu', ['nowhere']), /reads 'nowhere', which is not defined yet/);
    expectRagError(() => new GraphBuilder('g').initializer('w', 'float32', [2, 3], new Float32Array(5)), /dims \[2,3\] hold 6 values, data has 5/);
  });

  it('refuses a model whose output is not the declared dim, with a RagError', async () => {
    const model = buildStaticSifModel(sif, { vocabulary: ['aircraft', 'wing'] });
    const e = await OnnxEmbedder.create(model.bytes, { name: 'wrong-dim', dim: 50, tokenize: (t) => sifTokenIds(sif, [t], model.vocab)[0] });
    try {
      await expect(e.embed(['aircraft wing'])).rejects.toThrow(/returned float32 \[1, 100\], expected float32 \[1, 50\]/);
    } finally {
      await e.release();
    }
    await expect(OnnxEmbedder.create(new Uint8Array([1, 2, 3]), { name: 'junk', dim: 100, tokenize: () => [] })).rejects.toThrow(
      /onnxruntime could not load the model/,
    );
  });
});
