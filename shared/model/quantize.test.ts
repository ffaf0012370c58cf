import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { RagError } from '../errors.ts';
import { gaussian, mulberry32 } from '../util/random.ts';
import { buildEncoderModel, matmulWeightNames, TINY_ENCODER } from './encoder.ts';
import { GraphBuilder } from './onnx-build.ts';
import {
  calibrateActivations,
  dequantize,
  dequantizeNBits,
  dequantizeTableInt4,
  initializersOf,
  matmulInputs,
  minMaxRange,
  nodesOf,
  packNibbles,
  percentileRange,
  quantizeBlockwise4,
  quantizeGatherTable,
  quantizeGatherTableInt4,
  quantizeMatMulNBits,
  quantizeMatMulStatic,
  quantizeMatMulWeights,
  quantizeSymmetric,
  quantizeTableInt4,
  uint8Params,
} from './quantize.ts';

const randn = (n: number, seed: number, std = 1) => {
  const g = gaussian(mulberry32(seed));
  return Float32Array.from({ length: n }, () => std * g());
};

async function run(bytes: Uint8Array, feeds: Record<string, ort.Tensor>, level: 'disabled' | 'basic' | 'all' = 'all'): Promise<Float32Array> {
  const s = await ort.InferenceSession.create(bytes, { executionProviders: ['cpu'], intraOpNumThreads: 1, graphOptimizationLevel: level });
  try {
    const out = await s.run(feeds);
    return out[s.outputNames[0]].data as Float32Array;
  } finally {
    await s.release();
  }
}

/** y = x · W (+ nothing else): W [4, 3] named 'w'. */
function matmulModel(w: Float32Array): Uint8Array {
  const g = new GraphBuilder('mm');
  const x = g.input('x', 'float32', ['batch', 4]);
  const wn = g.initializer('w', 'float32', [4, 3], w);
  g.node('MatMul', [x, wn], {}, { outputs: ['y'] });
  g.output('y', 'float32', ['batch', 3]);
  return g.toBytes();
}

describe('quantizeSymmetric', () => {
  it('maps each group’s largest |w| to ±127 and keeps every value within half a step', () => {
    const rows = 50;
    const cols = 6;
    const w = randn(rows * cols, 1);
    for (let r = 0; r < rows; r++) w[r * cols + 5] *= 0.01; // a column 100× smaller
    for (const axis of ['tensor', 'column', 'row'] as const) {
      const t = quantizeSymmetric(w, rows, cols, axis);
      expect(t.scale.length).toBe(axis === 'tensor' ? 1 : axis === 'column' ? cols : rows);
      expect(Math.max(...Array.from(t.q, Math.abs))).toBe(127);
      const d = dequantize(t, rows, cols);
      for (let i = 0; i < w.length; i++) {
        const s = t.scale[axis === 'tensor' ? 0 : axis === 'column' ? i % cols : Math.floor(i / cols)];
        expect(Math.abs(w[i] - d[i])).toBeLessThanOrEqual(s / 2 + 1e-9);
      }
    }
    // per column, the small column keeps its own resolution; per tensor it is measured in the big columns' steps
    expect(quantizeSymmetric(w, rows, cols, 'column').scale[5]).toBeLessThan(quantizeSymmetric(w, rows, cols, 'tensor').scale[0] / 50);
  });

  it('gives an all-zero group scale 1 and zero codes; rejects NaN and a wrong length', () => {
    const t = quantizeSymmetric(new Float32Array(6), 2, 3, 'column');
    expect(Array.from(t.scale)).toEqual([1, 1, 1]);
    expect(Array.from(t.q)).toEqual([0, 0, 0, 0, 0, 0]);
    expect(() => quantizeSymmetric(Float32Array.of(1, NaN), 1, 2, 'tensor')).toThrow(RagError);
    expect(() => quantizeSymmetric(new Float32Array(5), 2, 3, 'tensor')).toThrow(/needs 6 values/);
  });
});

describe('quantizeMatMulWeights', () => {
  const w = randn(12, 2);
  const x = randn(8, 3);
  const feeds = () => ({ x: new ort.Tensor('float32', x, [2, 4]) });

  it('QDQ: the output is x · dequantized W exactly (one DequantizeLinear, the weight stored int8)', async () => {
    const q = quantizeMatMulWeights(matmulModel(w), ['w'], { format: 'qdq' });
    const init = initializersOf(q);
    expect(init.has('w')).toBe(false);
    expect(init.get('w_quantized')?.type).toBe('int8');
    expect(nodesOf(q).map((n) => n.opType)).toEqual(['DequantizeLinear', 'MatMul']);
    const d = dequantize(quantizeSymmetric(w, 4, 3, 'column'), 4, 3);
    // 'basic': the graph as written. At 'all', onnxruntime 1.30 replaces DequantizeLinear → MatMul with its own
    // MatMulNBits kernel, whose result differs from x · dequantized W by more than this test allows
    const y = await run(q, feeds(), 'basic');
    for (let b = 0; b < 2; b++) {
      for (let j = 0; j < 3; j++) {
        let want = 0;
        for (let i = 0; i < 4; i++) want += x[b * 4 + i] * d[i * 3 + j];
        expect(y[b * 3 + j]).toBeCloseTo(want, 5);
      }
    }
  });

  it('MatMulInteger: close to fp32 on the tiny encoder, every other initializer kept', async () => {
    const fp = buildEncoderModel(TINY_ENCODER);
    const names = matmulWeightNames(TINY_ENCODER);
    const q = quantizeMatMulWeights(fp, names, { format: 'integer' });
    expect(nodesOf(q).filter((n) => n.opType === 'MatMulInteger')).toHaveLength(names.length);
    const before = initializersOf(fp);
    const after = initializersOf(q);
    for (const [n, t] of before) if (!names.includes(n)) expect(after.get(n)?.raw).toEqual(t.raw);
    const ids = BigInt64Array.from({ length: 16 }, (_, i) => BigInt(1 + ((i * 37) % 999)));
    const f = () => ({ input_ids: new ort.Tensor('int64', ids, [2, 8]), attention_mask: new ort.Tensor('int64', new BigInt64Array(16).fill(1n), [2, 8]) });
    const a = await run(fp, f());
    const b = await run(q, f());
    for (let r = 0; r < 2; r++) {
      let dot = 0;
      for (let j = 0; j < 32; j++) dot += a[r * 32 + j] * b[r * 32 + j];
      expect(dot).toBeGreaterThan(0.999);
    }
  });

  it('refuses what it cannot rewrite, with the reason', () => {
    const m = matmulModel(w);
    expect(() => quantizeMatMulWeights(m, ['nope'])).toThrow(/no initializer 'nope'/);
    expect(() => quantizeMatMulWeights(m, ['w'], { format: 'integer', quantizer: (v, r, c) => quantizeSymmetric(v, r, c, 'row') })).toThrow(/does not factor out/);
    expect(() => quantizeMatMulWeights(new Uint8Array([1, 2, 3]), ['w'])).toThrow(RagError);
  });
});

describe('quantizeGatherTable', () => {
  it('looks up int8 rows times their own scale', async () => {
    const rows = 20;
    const dim = 5;
    const table = randn(rows * dim, 4);
    for (let j = 0; j < dim; j++) table[7 * dim + j] *= 0.001; // a tiny row keeps its own resolution
    const g = new GraphBuilder('lookup');
    const ids = g.input('ids', 'int64', ['n']);
    g.node('Gather', [g.initializer('table', 'float32', [rows, dim], table), ids], { axis: 0 }, { outputs: ['rows'] });
    g.output('rows', 'float32', ['n', dim]);
    const q = quantizeGatherTable(g.toBytes(), 'table');
    expect(initializersOf(q).get('table_quantized')?.bytes).toBe(rows * dim);
    const want = dequantize(quantizeSymmetric(table, rows, dim, 'row'), rows, dim);
    const y = await run(q, { ids: new ort.Tensor('int64', BigInt64Array.of(7n, 0n, 19n), [3]) });
    [7, 0, 19].forEach((r, k) => {
      for (let j = 0; j < dim; j++) {
        expect(y[k * dim + j]).toBeCloseTo(want[r * dim + j], 7);
        const halfStep = Math.max(...Array.from(table.subarray(r * dim, r * dim + dim), Math.abs)) / 127 / 2;
        expect(Math.abs(y[k * dim + j] - table[r * dim + j])).toBeLessThanOrEqual(halfStep * 1.0001);
      }
    });
    expect(() => quantizeGatherTable(matmulModel(randn(12, 5)), 'w')).toThrow(/Gather/);
  });
});

/** y = x · W: W [K, N] named 'w', x [batch, K]. */
function matmulModelKN(w: Float32Array, K: number, N: number): Uint8Array {
  const g = new GraphBuilder('mm');
  const x = g.input('x', 'float32', ['batch', K]);
  g.node('MatMul', [x, g.initializer('w', 'float32', [K, N], w)], {}, { outputs: ['y'] });
  g.output('y', 'float32', ['batch', N]);
  return g.toBytes();
}

function xw(x: Float32Array, w: Float32Array, batch: number, K: number, N: number): Float64Array {
  const y = new Float64Array(batch * N);
  for (let b = 0; b < batch; b++) for (let k = 0; k < K; k++) for (let n = 0; n < N; n++) y[b * N + n] += x[b * K + k] * w[k * N + n];
  return y;
}

describe('4-bit block-wise (MatMulNBits, GatherBlockQuantized)', () => {
  it('packs element 2i in the low nibble, B transposed [N, blocks, blockSize/2], one scale and zero point per block along K', () => {
    const K = 40; // two blocks of 32, the second partial (8 values + padding)
    const N = 3;
    const w = randn(K * N, 11);
    const t = quantizeBlockwise4(w, K, N, 32);
    expect(t.b.length).toBe(N * 2 * 16);
    expect(t.scales.length).toBe(N * 2);
    expect(t.zeroPoints!.length).toBe(N * 1);
    // column 1, block 0, elements 0 and 1 share byte 0 of that blob: low nibble = element 0
    const s = t.scales[1 * 2 + 0];
    const zero = t.zeroPoints![1] & 15;
    const byte = t.b[(1 * 2 + 0) * 16];
    expect(Math.abs(((byte & 15) - zero) * s - w[0 * N + 1])).toBeLessThanOrEqual(s / 2 + 1e-7);
    expect(Math.abs((((byte >> 4) & 15) - zero) * s - w[1 * N + 1])).toBeLessThanOrEqual(s / 2 + 1e-7);
    // every value within half a step of its own block; padding decodes to 0
    const d = dequantizeNBits(t, K, N);
    for (let k = 0; k < K; k++) for (let n = 0; n < N; n++) expect(Math.abs(d[k * N + n] - w[k * N + n])).toBeLessThanOrEqual(t.scales[n * 2 + (k >> 5)] / 2 + 1e-7);
    expect(Array.from(packNibbles(Uint8Array.of(1, 2, 3), 1, 3))).toEqual([0x21, 0x03]);
  });

  for (const mode of ['asymmetric', 'symmetric'] as const) {
    it(`MatMulNBits (${mode}): the output is x · dequantized W (TypeScript reference) within 1e-4`, async () => {
      const K = 96;
      const N = 20;
      const w = randn(K * N, 12, 0.05);
      const x = randn(4 * K, 13);
      const q = quantizeMatMulNBits(matmulModelKN(w, K, N), ['w'], { quantizer: (v, k, n) => quantizeBlockwise4(v, k, n, 32, mode) });
      expect(nodesOf(q).map((n) => `${n.domain}:${n.opType}`)).toEqual(['com.microsoft:MatMulNBits']);
      expect(initializersOf(q).has('w')).toBe(false);
      const want = xw(x, dequantizeNBits(quantizeBlockwise4(w, K, N, 32, mode), K, N), 4, K, N);
      const y = await run(q, { x: new ort.Tensor('float32', x, [4, K]) });
      for (let i = 0; i < y.length; i++) expect(Math.abs(y[i] - want[i])).toBeLessThan(1e-4);
    });
  }

  it('MatMulNBits on the tiny encoder: close to fp32, every other initializer kept', async () => {
    const fp = buildEncoderModel(TINY_ENCODER);
    const names = matmulWeightNames(TINY_ENCODER);
    const q = quantizeMatMulNBits(fp, names, { blockSize: 16 });
    expect(nodesOf(q).filter((n) => n.opType === 'MatMulNBits')).toHaveLength(names.length);
    const before = initializersOf(fp);
    const after = initializersOf(q);
    for (const [n, t] of before) if (!names.includes(n)) expect(after.get(n)?.raw).toEqual(t.raw);
    const ids = BigInt64Array.from({ length: 16 }, (_, i) => BigInt(1 + ((i * 37) % 999)));
    const f = () => ({ input_ids: new ort.Tensor('int64', ids, [2, 8]), attention_mask: new ort.Tensor('int64', new BigInt64Array(16).fill(1n), [2, 8]) });
    const a = await run(fp, f());
    const b = await run(q, f());
    for (let r = 0; r < 2; r++) {
      let dot = 0;
      for (let j = 0; j < 32; j++) dot += a[r * 32 + j] * b[r * 32 + j];
      expect(dot).toBeGreaterThan(0.99);
    }
  });

  it('refuses a block size MatMulNBits cannot run and a B of the wrong size', () => {
    const m = matmulModelKN(randn(64 * 4, 14), 64, 4);
    expect(() => quantizeMatMulNBits(m, ['w'], { blockSize: 24 })).toThrow(/power of 2/);
    expect(() => quantizeMatMulNBits(m, ['w'], { quantizer: () => ({ blockSize: 32, b: new Uint8Array(10), scales: new Float32Array(8) }) })).toThrow(/needs B \[N=4, 2, 16\]/);
  });

  for (const mode of ['asymmetric', 'symmetric'] as const) {
    it(`GatherBlockQuantized (${mode}): looked-up rows equal the dequantized table, blocks along each row`, async () => {
      const rows = 30;
      const dim = 100; // not a multiple of the block: the last block is partial
      const table = randn(rows * dim, 15);
      for (let j = 0; j < dim; j++) table[7 * dim + j] *= 0.001;
      const g = new GraphBuilder('lookup');
      const ids = g.input('ids', 'int64', ['b', 's']);
      g.node('Gather', [g.initializer('table', 'float32', [rows, dim], table), ids], { axis: 0 }, { outputs: ['rows'] });
      g.output('rows', 'float32', ['b', 's', dim]);
      const q = quantizeGatherTableInt4(g.toBytes(), 'table', { blockSize: 32, mode });
      expect(nodesOf(q).map((n) => n.opType)).toEqual(['GatherBlockQuantized']);
      expect(initializersOf(q).get('table_int4')?.bytes).toBe(rows * 50);
      const qt = quantizeTableInt4(table, rows, dim, 32, mode);
      const want = dequantizeTableInt4(qt, rows, dim);
      const pick = [7, 0, 29, 7];
      const y = await run(q, { ids: new ort.Tensor('int64', BigInt64Array.from(pick, BigInt), [2, 2]) });
      pick.forEach((r, k) => {
        for (let j = 0; j < dim; j++) {
          expect(y[k * dim + j]).toBeCloseTo(want[r * dim + j], 6);
          const s = qt.scales[r * 4 + (j >> 5)];
          expect(Math.abs(y[k * dim + j] - table[r * dim + j])).toBeLessThanOrEqual(s / 2 + 1e-7);
        }
      });
    });
  }
});

describe('static activation quantization (QuantizeLinear with a calibrated scale → MatMulInteger)', () => {
  /** uint8 quantize-dequantize of x over range r, as QuantizeLinear + the integer sum see it. */
  function fakeQuant(v: number, scale: number, zero: number): number {
    const q = Math.min(255, Math.max(0, Math.round(v / scale) + zero)); // ONNX rounds half to even; ties are rare here
    return (q - zero) * scale;
  }

  it('the output is (x quantized with the fixed scale, clipped to the range) · dequantized W, within 1e-4', async () => {
    const K = 16;
    const N = 5;
    const w = randn(K * N, 21, 0.1);
    const x = randn(3 * K, 22);
    x[3] = 9; // far outside the calibrated range: clipped to its end
    const range = { min: -2, max: 2.5 };
    const q = quantizeMatMulStatic(matmulModelKN(w, K, N), new Map([['w', range]]), { format: 'integer' });
    expect(nodesOf(q).map((n) => n.opType)).toEqual(['QuantizeLinear', 'MatMulInteger', 'Cast', 'Mul']);
    const qdq = quantizeMatMulStatic(matmulModelKN(w, K, N), new Map([['w', range]]));
    expect(nodesOf(qdq).map((n) => n.opType)).toEqual(['DequantizeLinear', 'QuantizeLinear', 'DequantizeLinear', 'MatMul']);
    const { scale, zeroPoint } = uint8Params(range);
    expect(zeroPoint).toBe(Math.round(2 / scale));
    const d = dequantize(quantizeSymmetric(w, K, N, 'column'), K, N);
    const xq = Float32Array.from(x, (v) => fakeQuant(v, scale, zeroPoint));
    expect(xq[3]).toBeCloseTo(2.5, 1);
    const want = xw(xq, d, 3, K, N);
    for (const model of [q, qdq]) {
      const y = await run(model, { x: new ort.Tensor('float32', x, [3, K]) });
      for (let i = 0; i < y.length; i++) expect(Math.abs(y[i] - want[i])).toBeLessThan(1e-4);
    }
  });

  it('calibrates each MatMul input once from the sample: min/max covers every value seen, a percentile clips the tails', async () => {
    const names = matmulWeightNames(TINY_ENCODER);
    const fp = buildEncoderModel(TINY_ENCODER);
    const inputs = matmulInputs(fp, names);
    expect(new Set(inputs.values()).size).toBe(8); // per layer: q/k/v share one input, out, up, down
    const feeds = [0, 1].map((s) => {
      const ids = BigInt64Array.from({ length: 16 }, (_, i) => BigInt(1 + ((i * 37 + s * 101) % 999)));
      return { input_ids: new ort.Tensor('int64', ids, [2, 8]), attention_mask: new ort.Tensor('int64', new BigInt64Array(16).fill(1n), [2, 8]) };
    });
    const seen: Float32Array[] = [];
    const mm = await calibrateActivations(fp, names, feeds, (values, t) => {
      if (t === inputs.get(names[0])) seen.push(values);
      return minMaxRange(values, t);
    });
    expect(seen).toHaveLength(1);
    expect(seen[0].length).toBe(2 * 2 * 8 * 32); // two runs of [2, 8, 32]
    const r = mm.get(names[0])!;
    expect(mm.get(names[1])).toEqual(r); // k reads q's input
    expect(Math.max(...seen[0])).toBe(r.max);
    expect(Math.min(...seen[0])).toBe(r.min);
    const p = percentileRange(0.99)(seen[0], '');
    expect(p.max).toBeLessThan(r.max);
    expect(p.min).toBeGreaterThan(r.min);
    const q = quantizeMatMulStatic(fp, mm);
    expect(nodesOf(q).filter((n) => n.opType === 'DynamicQuantizeLinear')).toHaveLength(0);
    expect(nodesOf(q).filter((n) => n.opType === 'QuantizeLinear')).toHaveLength(8) // one per distinct input: q, k and v share one;
    expect(nodesOf(quantizeMatMulStatic(fp, mm, { format: 'integer' })).filter((n) => n.opType === 'MatMulInteger')).toHaveLength(names.length);
    const f = feeds[0];
    const a = await run(fp, f);
    const b = await run(q, f);
    for (let row = 0; row < 2; row++) {
      let dot = 0;
      for (let j = 0; j < 32; j++) dot += a[row * 32 + j] * b[row * 32 + j];
      expect(dot).toBeGreaterThan(0.999);
    }
    expect(() => percentileRange(0.3)).toThrow(RagError);
  });
});
