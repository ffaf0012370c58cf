import { fromBinary } from '@bufbuild/protobuf';
import * as ort from 'onnxruntime-node';
import { ModelProtoSchema, TensorProto_DataType } from 'onnx-buf';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectRagError } from '../util/expect-rag-error.ts';
import {
  buildEncoderFromWeights,
  buildEncoderModel,
  encoderConfig,
  encoderParameterCount,
  encoderWeights,
  matmulWeightNames,
  MINILM_L6,
  TINY_ENCODER,
  type EncoderOptions,
} from './encoder.ts';
import { encoderReference, erf } from './encoder-reference.ts';
import { OnnxEmbedder, packTokenBatch, type TokenBatch } from './onnx-embedder.ts';

/**
 * The checkpoint of the seeded encoder: the ONNX graph computes the BERT encoder the reference computes, padding
 * changes nothing, the seed fixes the bytes, and the MiniLM-shaped default has MiniLM's parameters.
 *
 * Tolerance. The reference runs in float64 from the same float32 weights; onnxruntime runs in float32 (with its fused
 * kernels, SkipLayerNormalization, BiasGelu, FusedMatMul, and MLAS matmuls summing in their own order). Each float32
 * operation is exact to 2^-24 ≈ 6e-8 relative; a layer chains ~20 of them over sums of 16-128 terms, and the
 * LayerNorms keep activations near unit scale, so the error stays a few float32 ulps of the unit-length output:
 * measured 1.9e-7 (trained-like init below) and 9.8e-8 (BERT's init); a padded row and the same text alone differ by
 * ~1.2e-7. TOL = 1e-5 leaves 50× room for another CPU's kernels, while the mistakes this test exists for move
 * components by far more. Measured by breaking the graph, on the batch of the first test: the tanh Gelu 1.0e-4, the
 * output-projection bias dropped 9e-2, the last LayerNorm dropped 0.14, heads split along the wrong axis 0.23,
 * positions left out 0.52, the mask left out of attention 0.66.
 *
 * Init. BERT's init (std 0.02, zero biases, LayerNorm 1/0) leaves each sublayer a small correction to the residual
 * stream and attention nearly uniform, and every bias zero: under it the tanh Gelu (2e-7) and a dropped bias (0)
 * would pass, and wrongly split heads only just fail (6e-5). The main comparison therefore uses a "trained-like"
 * spread (weights 0.2 ≈ 1.1/√hidden, biases and LayerNorm 0.1) under which every parameter and the attention pattern
 * move the output; BERT's init is compared too.
 */
const TOL = 1e-5;
const TRAINED_LIKE: EncoderOptions = { ...TINY_ENCODER, weightStd: 0.2, biasStd: 0.1, normStd: 0.1 };

type Session = ort.InferenceSession;

async function load(bytes: Uint8Array): Promise<Session> {
  return ort.InferenceSession.create(bytes, { executionProviders: ['cpu'], graphOptimizationLevel: 'all', intraOpNumThreads: 1 });
}

async function run(session: Session, b: TokenBatch): Promise<Float32Array> {
  const r = await session.run({
    input_ids: new ort.Tensor('int64', b.ids, [b.batch, b.seqLen]),
    attention_mask: new ort.Tensor('int64', b.mask, [b.batch, b.seqLen]),
  });
  const y = r.sentence_embedding;
  expect(y.type).toBe('float32');
  expect(y.dims).toHaveLength(2);
  expect(y.dims[0]).toBe(b.batch);
  return Float32Array.from(y.data as Float32Array);
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

function rowNorms(y: ArrayLike<number>, dim: number): number[] {
  return Array.from({ length: y.length / dim }, (_, r) => {
    let s = 0;
    for (let j = 0; j < dim; j++) s += y[r * dim + j] ** 2;
    return Math.sqrt(s);
  });
}

/** Deterministic token ids in [1, vocab): the tokenizer is a later task, any ids exercise the graph. */
function tokenLists(lengths: readonly number[], vocab: number, seed = 7): number[][] {
  let s = seed;
  const next = () => (s = (s * 48_271) % 2_147_483_647);
  return lengths.map((n) => Array.from({ length: n }, () => 1 + (next() % (vocab - 1))));
}


describe('seeded encoder, tiny configuration, against the TypeScript reference', () => {
  const weights = encoderWeights(TRAINED_LIKE);
  const H = weights.config.hidden;
  const maxPos = weights.config.maxPositions;
  // lengths 1..maxPositions, several sharing a batch with much longer ones (lots of padding)
  const lists = tokenLists([1, 2, 3, 5, 8, 13, 21, 34, 7, maxPos, 4, 9], weights.config.vocab);
  let session: Session;

  beforeAll(async () => {
    session = await load(buildEncoderFromWeights(weights));
  });
  afterAll(async () => {
    await session.release();
  });

  it('equals the reference within TOL on padded batches of mixed lengths', async () => {
    for (const batch of [lists, lists.slice(0, 5), [lists[9]], [lists[0]]]) {
      const b = packTokenBatch(batch);
      const got = await run(session, b);
      expect(got).toHaveLength(batch.length * H);
      expect(maxAbsDiff(got, encoderReference(weights, b))).toBeLessThan(TOL);
      for (const n of rowNorms(got, H)) expect(n).toBeCloseTo(1, 5);
    }
  });

  it('gives a padded row the embedding of the same text unpadded', async () => {
    const padded = await run(session, packTokenBatch(lists));
    for (let i = 0; i < lists.length; i++) {
      const alone = await run(session, packTokenBatch([lists[i]]));
      expect(maxAbsDiff(padded.subarray(i * H, (i + 1) * H), alone)).toBeLessThan(TOL);
    }
    // what padding tokens are does not matter either: the reference with other ids under the mask
    const b = packTokenBatch(lists);
    const other = { ...b, ids: b.ids.map((id, j) => (b.mask[j] === 0n ? BigInt(1 + (j % 50)) : id)) };
    expect(maxAbsDiff(await run(session, other), padded)).toBeLessThan(TOL);
    expect(maxAbsDiff(encoderReference(weights, other), padded)).toBeLessThan(TOL);
  });

  it('embeds the same tokens in another order differently (positions enter the model)', async () => {
    // a graph that dropped the position table would embed a bag of words: the reference comparison catches that
    // too (0.5 per component), this says it in the model's own terms
    const [a] = lists.slice(7, 8);
    const reversed = [...a].reverse();
    const y = await run(session, packTokenBatch([a, reversed]));
    expect(maxAbsDiff(y.subarray(0, H), y.subarray(H))).toBeGreaterThan(1e-2);
  });

  it('returns a zero row for a text with no token, through OnnxEmbedder', async () => {
    const embedder = await OnnxEmbedder.create(buildEncoderFromWeights(weights), {
      name: 'seeded-encoder-tiny',
      dim: H,
      intraOpNumThreads: 1,
      // "tokenise" a list of ids written as text
      tokenize: (text) => text.split(' ').filter(Boolean).map(Number),
    });
    try {
      const texts = [lists[3].join(' '), '', lists[6].join(' ')];
      const rows = await embedder.embed(texts);
      expect(rows[1].every((v) => v === 0)).toBe(true);
      const ref = encoderReference(weights, packTokenBatch([lists[3], [], lists[6]]));
      expect(ref.subarray(H, 2 * H).every((v) => v === 0)).toBe(true); // the graph's own clamps give 0 too
      expect(maxAbsDiff([...rows[0], ...rows[1], ...rows[2]], ref)).toBeLessThan(TOL);
    } finally {
      await embedder.release();
    }
  });

  it("equals the reference with BERT's initialisation too", async () => {
    const bert = encoderWeights(TINY_ENCODER);
    expect(bert.config.weightStd).toBe(0.02);
    const s = await load(buildEncoderFromWeights(bert));
    try {
      const b = packTokenBatch(lists);
      expect(maxAbsDiff(await run(s, b), encoderReference(bert, b))).toBeLessThan(TOL);
    } finally {
      await s.release();
    }
  });

  it('uses the exact (erf) Gelu', () => {
    // the reference's erf against known values (Abramowitz & Stegun table 7.1)
    expect(erf(0)).toBe(0);
    expect(erf(0.5)).toBeCloseTo(0.5204998778130465, 14);
    expect(erf(-2)).toBeCloseTo(-0.9953222650189527, 14);
    expect(erf(1e-9)).toBeCloseTo(1.1283791670955126e-9, 20);
    expect(erf(7)).toBe(1);
  });
});

describe('seeded encoder: the seed', () => {
  it('gives byte-identical models for one seed and different outputs for another', async () => {
    const a = buildEncoderModel({ ...TINY_ENCODER, seed: 5 });
    const b = buildEncoderModel({ ...TINY_ENCODER, seed: 5 });
    const c = buildEncoderModel({ ...TINY_ENCODER, seed: 6 });
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
    expect(Buffer.from(a).equals(Buffer.from(c))).toBe(false);
    expect(c.length).toBe(a.length); // same shape, other numbers
    const input = packTokenBatch(tokenLists([6, 11], 1000));
    const [sa, sc] = await Promise.all([load(a), load(c)]);
    try {
      const ya = await run(sa, input);
      const yc = await run(sc, input);
      // unrelated random unit vectors in 32 dimensions: components differ by ~0.2
      expect(maxAbsDiff(ya, yc)).toBeGreaterThan(0.1);
    } finally {
      await Promise.all([sa.release(), sc.release()]);
    }
  });

  it('draws each tensor from its own stream: a smaller vocabulary keeps a prefix of the table and every layer', () => {
    const big = encoderWeights({ ...TINY_ENCODER, vocab: 1000 });
    const small = encoderWeights({ ...TINY_ENCODER, vocab: 100 });
    const H = big.config.hidden;
    expect(small.tensors.get('embeddings.word.weight')!.data).toEqual(big.tensors.get('embeddings.word.weight')!.data.subarray(0, 100 * H));
    expect(small.tensors.get('layer.1.ffn.up.weight')!.data).toEqual(big.tensors.get('layer.1.ffn.up.weight')!.data);
    // and different tensors do not share numbers
    expect(big.tensors.get('layer.0.attn.q.weight')!.data).not.toEqual(big.tensors.get('layer.0.attn.k.weight')!.data);
  });
});

describe('seeded encoder of MiniLM-L6 shape (the default)', () => {
  it(
    "has MiniLM's parameters in named initializers and embeds a 2×16 batch to unit vectors",
    async () => {
      const bytes = buildEncoderModel();
      // 22,564,608 = all-MiniLM-L6-v2's 22,713,216 without BERT's pooler (147,840) and token-type table (768)
      const expected = encoderParameterCount();
      expect(expected).toBe(22_564_608);

      const model = fromBinary(ModelProtoSchema, bytes);
      const inits = model.graph!.initializer;
      const size = (dims: readonly bigint[]) => dims.reduce((a, d) => a * Number(d), 1);
      const params = inits.filter((t) => /^(embeddings|layer\.\d+)\./.test(t.name));
      expect(params.every((t) => t.dataType === TensorProto_DataType.FLOAT && t.rawData.length === 4 * size(t.dims))).toBe(true);
      expect(params.reduce((s, t) => s + size(t.dims), 0)).toBe(expected);
      // the rest are shape constants and scalars
      expect(inits.filter((t) => !params.includes(t)).reduce((s, t) => s + size(t.dims), 0)).toBeLessThan(32);
      // the names a weight-quantization lesson looks for, with [in, out] shapes
      const byName = new Map(params.map((t) => [t.name, t.dims.map(Number)]));
      const names = matmulWeightNames();
      expect(names).toHaveLength(36);
      expect(byName.get('layer.0.attn.q.weight')).toEqual([384, 384]);
      expect(byName.get('layer.5.ffn.up.weight')).toEqual([384, 1536]);
      expect(byName.get('layer.5.ffn.down.weight')).toEqual([1536, 384]);
      expect(byName.get('embeddings.word.weight')).toEqual([30_522, 384]);
      for (const n of names) expect(byName.has(n)).toBe(true);
      expect(bytes.length).toBeGreaterThan(4 * expected);
      expect(bytes.length).toBeLessThan(4 * expected + 200_000);
      expect(model.metadataProps.find((p) => p.key === 'meaningful')?.value).toBe('false');

      const session = await load(bytes);
      try {
        const lists = tokenLists([16, 16], MINILM_L6.vocab, 11);
        const y = await run(session, packTokenBatch(lists));
        expect(y).toHaveLength(2 * 384);
        for (const n of rowNorms(y, 384)) expect(n).toBeCloseTo(1, 5);
        expect(maxAbsDiff(y.subarray(0, 384), y.subarray(384))).toBeGreaterThan(1e-3);
      } finally {
        await session.release();
      }
    },
    60_000,
  );
});

describe('seeded encoder: options', () => {
  it('defaults to MiniLM-L6 and refuses shapes it cannot build with a RagError', () => {
    expect(encoderConfig()).toEqual(MINILM_L6);
    expect(encoderConfig({ layers: 1, heads: 4 })).toMatchObject({ layers: 1, heads: 4, hidden: 384 });
    expectRagError(() => buildEncoderModel({ ...TINY_ENCODER, hidden: 30, heads: 4 }), /hidden \(30\) must be divisible by heads \(4\)/);
    expectRagError(() => buildEncoderModel({ ...TINY_ENCODER, layers: 0 }), /layers must be a positive integer, got 0/);
    expectRagError(() => buildEncoderModel({ ...TINY_ENCODER, ffn: 1.5 }), /ffn must be a positive integer, got 1.5/);
    expectRagError(() => buildEncoderModel({ ...TINY_ENCODER, vocab: -1 }), /vocab must be a positive integer/);
    expectRagError(() => buildEncoderModel({ ...TINY_ENCODER, seed: 0.5 }), /seed must be an integer/);
    expectRagError(() => buildEncoderModel({ ...TINY_ENCODER, weightStd: Number.NaN }), /weightStd must be a finite number >= 0/);
    expectRagError(() => buildEncoderModel({ ...TINY_ENCODER, layerNormEpsilon: 0 }), /layerNormEpsilon must be a positive number/);
    expectRagError(() => buildEncoderModel({ ...TINY_ENCODER, hiden: 64 } as EncoderOptions), /unknown option 'hiden'/);
    expectRagError(() => encoderParameterCount({ heads: 5 }), /hidden \(384\) must be divisible by heads \(5\)/);
  });

  it('refuses weights that do not fit the configuration', () => {
    const w = encoderWeights(TINY_ENCODER);
    const missing = new Map(w.tensors);
    missing.delete('layer.1.attn.v.bias');
    expectRagError(() => buildEncoderFromWeights({ ...w, tensors: missing }), /no tensor 'layer.1.attn.v.bias'/);
    const pruned = new Map(w.tensors);
    pruned.set('layer.0.ffn.up.weight', { dims: [32, 64], data: new Float32Array(32 * 64) });
    expectRagError(() => buildEncoderFromWeights({ ...w, tensors: pruned }), /'layer.0.ffn.up.weight' is \[32,64\], the configuration needs \[32,128\]/);
  });
});
