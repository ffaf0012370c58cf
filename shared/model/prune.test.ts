/**
 * shared/model/prune.ts: structured pruning of the seeded encoder and of a static table.
 *
 * The key property: removing a neuron (its ffn.up column, bias entry and ffn.down row) or a head (its q/k/v columns,
 * biases and attn.out rows) gives the same outputs as zeroing exactly those weights in the full-size model, to float
 * rounding: the surgery cuts out what contributes nothing once zeroed, and nothing else. Plus the importance scores,
 * the per-layer widths the encoder builds from, and the static table's folding, axes and graph.
 */
import { describe, expect, it } from 'vitest';
import { buildEncoderFromWeights, encoderWeights, TINY_ENCODER, type EncoderOptions, type EncoderWeights, type WeightTensor } from './encoder.ts';
import {
  buildStaticTableModel,
  columnEnergy,
  ffnNeuronImportance,
  headImportance,
  keepColumns,
  keptCount,
  layerShapesOf,
  parameterCount,
  principalAxes,
  pruneEncoderWeights,
  rotateTable,
  topIndices,
} from './prune.ts';
import { initializersOf } from './quantize.ts';
import { embedAll, openSession, seededTexts } from './session.ts';
import { expectRagError } from '../util/expect-rag-error.ts';
import { gaussian, mulberry32 } from '../util/random.ts';

const OPTS: EncoderOptions = { ...TINY_ENCODER, heads: 4, weightStd: 0.1, biasStd: 0.02, normStd: 0.1 };
const W = encoderWeights(OPTS);
const texts = seededTexts(40, W.config.vocab, 1, 40);
const D = W.config.hidden / W.config.heads;

async function rows(w: EncoderWeights): Promise<Float32Array[]> {
  const s = await openSession(buildEncoderFromWeights(w));
  try {
    return await embedAll(s, texts);
  } finally {
    await s.release();
  }
}

/** The full-size weights with every piece outside `keep` set to zero. */
function zeroed(w: EncoderWeights, ffn: number[][], heads: number[][]): EncoderWeights {
  const tensors = new Map<string, WeightTensor>(w.tensors);
  const zero = (name: string, drop: (r: number, c: number) => boolean) => {
    const t = tensors.get(name)!;
    const [r0, c0] = t.dims.length === 2 ? t.dims : [1, t.dims[0]];
    const data = Float32Array.from(t.data);
    for (let r = 0; r < r0; r++) for (let c = 0; c < c0; c++) if (drop(r, c)) data[r * c0 + c] = 0;
    tensors.set(name, { dims: t.dims, data });
  };
  for (let i = 0; i < w.config.layers; i++) {
    const n = new Set(ffn[i]);
    zero(`layer.${i}.ffn.up.weight`, (_r, c) => !n.has(c));
    zero(`layer.${i}.ffn.up.bias`, (_r, c) => !n.has(c));
    zero(`layer.${i}.ffn.down.weight`, (r) => !n.has(r));
    const h = new Set(heads[i]);
    for (const m of ['q', 'k', 'v']) {
      zero(`layer.${i}.attn.${m}.weight`, (_r, c) => !h.has(Math.floor(c / D)));
      zero(`layer.${i}.attn.${m}.bias`, (_r, c) => !h.has(Math.floor(c / D)));
    }
    zero(`layer.${i}.attn.out.weight`, (r) => !h.has(Math.floor(r / D)));
  }
  return { config: w.config, tensors };
}

describe('pruneEncoderWeights', () => {
  const ffn = [
    [0, 3, 5, 9, 17, 40, 64, 100, 127],
    [1, 2, 50, 77],
  ];
  const heads = [[1, 3], [2]];
  const pruned = pruneEncoderWeights(W, { ffn, heads });

  it('gives the outputs of the full model with the removed neurons and heads zeroed (≤ 1e-5)', async () => {
    const [a, b] = [await rows(pruned), await rows(zeroed(W, ffn, heads))];
    let worst = 0;
    for (let i = 0; i < a.length; i++) for (let k = 0; k < a[i].length; k++) worst = Math.max(worst, Math.abs(a[i][k] - b[i][k]));
    expect(worst).toBeLessThanOrEqual(1e-5);
  });

  it('shrinks the matrices and records the widths; the model gets smaller', () => {
    expect(pruned.layerShapes).toEqual([
      { heads: 2, ffn: 9 },
      { heads: 1, ffn: 4 },
    ]);
    expect(pruned.tensors.get('layer.0.ffn.up.weight')!.dims).toEqual([32, 9]);
    expect(pruned.tensors.get('layer.0.ffn.down.weight')!.dims).toEqual([9, 32]);
    expect(pruned.tensors.get('layer.1.attn.q.weight')!.dims).toEqual([32, 8]);
    expect(pruned.tensors.get('layer.1.attn.out.weight')!.dims).toEqual([8, 32]);
    expect(parameterCount(pruned)).toBeLessThan(parameterCount(W));
    const init = initializersOf(buildEncoderFromWeights(pruned));
    expect(init.get('layer.0.ffn.up.weight')!.dims).toEqual([32, 9]);
    expect(buildEncoderFromWeights(pruned).length).toBeLessThan(buildEncoderFromWeights(W).length);
  });

  it('prunes again from pruned weights (indices are into the current layer)', async () => {
    const again = pruneEncoderWeights(pruned, { ffn: [[0, 8], undefined], heads: [[1], undefined] });
    expect(again.layerShapes).toEqual([
      { heads: 1, ffn: 2 },
      { heads: 1, ffn: 4 },
    ]);
    const direct = pruneEncoderWeights(W, { ffn: [[0, 127], ffn[1]], heads: [[3], heads[1]] });
    expect([...again.tensors].every(([n, t]) => t.data.every((x, k) => x === direct.tensors.get(n)!.data[k]))).toBe(true);
  });

  it('rejects indices that are not distinct, ascending and in range, and an empty layer', () => {
    expectRagError(() => pruneEncoderWeights(W, { ffn: [[3, 1], undefined] }), /ascending/);
    expectRagError(() => pruneEncoderWeights(W, { heads: [[0, 4], undefined] }), /0\.\.3/);
    expectRagError(() => pruneEncoderWeights(W, { ffn: [[], undefined] }), /keeps nothing/);
  });

  it('buildEncoderFromWeights rejects layerShapes that do not fit the config', () => {
    expectRagError(() => buildEncoderFromWeights({ ...pruned, layerShapes: [{ heads: 2, ffn: 9 }] }), /layerShapes has 1 entries/);
    expectRagError(() => buildEncoderFromWeights({ ...pruned, layerShapes: [{ heads: 5, ffn: 9 }, { heads: 1, ffn: 4 }] }), /1\.\.4 heads/);
  });
});

describe('importance and choice', () => {
  it('scores an FFN neuron by ‖up column‖ · ‖down row‖ and a head by ‖v columns‖ · ‖out rows‖', () => {
    const s = ffnNeuronImportance(W, 0);
    const up = W.tensors.get('layer.0.ffn.up.weight')!.data;
    const down = W.tensors.get('layer.0.ffn.down.weight')!.data;
    let a = 0;
    let b = 0;
    for (let r = 0; r < 32; r++) a += up[r * 128 + 7] ** 2;
    for (let c = 0; c < 32; c++) b += down[7 * 32 + c] ** 2;
    expect(s[7]).toBeCloseTo(Math.sqrt(a * b), 10);
    expect(headImportance(W, 1).length).toBe(4);
  });

  it('topIndices keeps the k largest, ascending, ties to the lower index; keptCount rounds and keeps one', () => {
    expect(topIndices([0.1, 5, 3, 5, 0], 2)).toEqual([1, 3]);
    expect(topIndices([1, 1, 1], 2)).toEqual([0, 1]);
    expect(keptCount(1536, 0.5)).toBe(768);
    expect(keptCount(12, 0.25)).toBe(9);
    expect(keptCount(2, 0.9)).toBe(1);
    expectRagError(() => keptCount(10, 1), /\[0, 1\)/);
    expect(layerShapesOf(W)).toEqual([
      { heads: 4, ffn: 128 },
      { heads: 4, ffn: 128 },
    ]);
  });
});

describe('static table', () => {
  const rowsN = 50;
  const dim = 6;
  const table = new Float32Array(rowsN * dim);
  const draw = gaussian(mulberry32(5));
  for (let r = 1; r < rowsN; r++) for (let c = 0; c < dim; c++) table[r * dim + c] = draw() * (c + 1) + (c === 0 ? 0.5 * table[r * dim] : 0);

  it('columnEnergy is Σ of squares per column; keepColumns keeps them in order', () => {
    const e = columnEnergy(table, rowsN, dim);
    let e2 = 0;
    for (let r = 0; r < rowsN; r++) e2 += table[r * dim + 2] ** 2;
    expect(e[2]).toBeCloseTo(e2, 6);
    const k = keepColumns(table, rowsN, dim, [1, 4]);
    expect(Array.from(k.subarray(2 * 2, 3 * 2))).toEqual([table[2 * dim + 1], table[2 * dim + 4]]);
  });

  it('principalAxes are orthonormal, strongest first, and the rotated table has that energy per column', () => {
    const { values, vectors } = principalAxes(table, rowsN, dim);
    for (let a = 0; a < dim; a++) {
      for (let b = 0; b < dim; b++) {
        let dot = 0;
        for (let i = 0; i < dim; i++) dot += vectors[i * dim + a] * vectors[i * dim + b];
        expect(dot).toBeCloseTo(a === b ? 1 : 0, 9);
      }
    }
    for (let k = 1; k < dim; k++) expect(values[k]).toBeLessThanOrEqual(values[k - 1]);
    const rot = rotateTable({ table, rows: rowsN, dim }, vectors);
    const e = columnEnergy(rot.table, rowsN, dim);
    for (let k = 0; k < dim; k++) expect(e[k] / values[k]).toBeCloseTo(1, 4);
  });

  it('buildStaticTableModel embeds the masked mean of the rows, L2-normalised (a text with no ids: zeros)', async () => {
    const s = await openSession(buildStaticTableModel({ table, rows: rowsN, dim }));
    const [a, empty] = await embedAll(s, [[3, 7, 7], []]);
    await s.release();
    const want = Array.from({ length: dim }, (_, c) => table[3 * dim + c] + 2 * table[7 * dim + c]);
    const n = Math.hypot(...want);
    want.forEach((x, c) => expect(a[c]).toBeCloseTo(x / n, 5));
    expect(Array.from(empty)).toEqual(new Array(dim).fill(0));
  });
});
