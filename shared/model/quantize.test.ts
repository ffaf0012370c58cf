import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { RagError } from '../errors.ts';
import { gaussian, mulberry32 } from '../util/random.ts';
import { buildEncoderModel, matmulWeightNames, TINY_ENCODER } from './encoder.ts';
import { GraphBuilder } from './onnx-build.ts';
import { dequantize, initializersOf, nodesOf, quantizeGatherTable, quantizeMatMulWeights, quantizeSymmetric } from './quantize.ts';

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
