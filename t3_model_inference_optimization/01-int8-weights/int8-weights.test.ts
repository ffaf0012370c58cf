/**
 * Checkpoint for 01-int8-weights. `npm run checkpoint -- 01-int8-weights` runs it against exercise.ts; plain
 * `npx vitest run` checks before.ts (float32, the baseline: only the fidelity and "nothing else changed" checks apply)
 * and after.ts.
 *
 * The model: a small encoder of the lesson's shape (2 layers, hidden 32, FFN 128; shared/model/encoder.ts) with
 * seeded weights whose MatMul output columns differ in range (about 20× between ±2 standard deviations) (`channelSpreadWeights`, as a trained model's
 * do; seeded BERT init gives every column the same range, which would hide the lesson's decision), and non-zero
 * biases and LayerNorm parameters so every tensor matters. Seeded weights: outputs carry no meaning; fidelity is the
 * cosine of the int8 model's output to the fp32 model's, over 300 seeded token-id lists of 1-48 tokens.
 *
 * What is checked is read from the model bytes (onnx-buf), not timed: every MatMul weight is an int8 initializer,
 * the int8 weights and their scales take ≤ 30% of the fp32 weights' bytes, every other initializer is byte for byte
 * the fp32 model's, no weight changes sign, each weight is within half of its own output column's int8 step, and the
 * output cosine to fp32 is ≥ 0.9995 on average and ≥ 0.997 for every input.
 */
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type * as ort from 'onnxruntime-node';
import { implementations } from '../../shared/lab/checkpoint.ts';
import { buildEncoderFromWeights, matmulWeightNames, TINY_ENCODER, type EncoderOptions } from '../../shared/model/encoder.ts';
import { floatsOf, initializersOf, type StoredTensor } from '../../shared/model/quantize.ts';
import { embedAll, openSession, rowCosines, seededTexts } from '../../shared/model/session.ts';
import { channelSpreadWeights } from './data.ts';

type Mod = typeof import('./after.ts');

/**
 * Floors on the output cosine to fp32: between what per output column (after.ts) and one scale per tensor reach on
 * this model (the measured figures are in the README's exercise section).
 */
const MEAN_COSINE = 0.9995;
const MIN_COSINE = 0.997;
/** int8 codes + float32 scales (+ zero points) against the float32 weights: 25% + a column's worth. */
const SIZE_SHARE = 0.3;

/**
 * weightStd 0.1, not BERT's 0.02: at 0.02 two 32-wide layers barely move the output (any int8 form, even one scale
 * per tensor, keeps the cosine ≥ 0.99999 there), so the floors could not tell good from bad.
 */
const OPTS: EncoderOptions = { ...TINY_ENCODER, weightStd: 0.1, biasStd: 0.02, normStd: 0.1 };
const weights = channelSpreadWeights(OPTS, 0.75);
const NAMES = matmulWeightNames(OPTS);
const fp32 = buildEncoderFromWeights(weights);
const fp32Init = initializersOf(fp32);
const texts = seededTexts(300, weights.config.vocab, 1, 48);

/** The stored int8 weight `name` back in float32: (q − zero point) · scale, with the scale's axis from its length. */
function dequantized(init: Map<string, StoredTensor>, name: string, rows: number, cols: number): Float32Array | undefined {
  const q = init.get(`${name}_quantized`);
  const s = init.get(`${name}_scale`);
  if (!q || q.type !== 'int8' || !s) return undefined;
  const codes = new Int8Array(q.raw.buffer, q.raw.byteOffset, q.raw.byteLength);
  const scale = floatsOf(s);
  const zp = init.get(`${name}_zero_point`);
  const zero = zp ? new Int8Array(zp.raw.buffer, zp.raw.byteOffset, zp.raw.byteLength) : new Int8Array(scale.length);
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      // one scale: per tensor; `cols` scales: per output column; `rows` scales (rows ≠ cols): per input row
      const k = scale.length === 1 ? 0 : scale.length === cols ? c : r;
      out[r * cols + c] = (codes[r * cols + c] - zero[k]) * scale[k];
    }
  }
  return out;
}

let fp32Rows: Float32Array[];
beforeAll(async () => {
  const s = await openSession(fp32);
  fp32Rows = await embedAll(s, texts);
  await s.release();
});

describe.each(await implementations<Mod>(import.meta.url))('%s', (name, impl) => {
  let model: Uint8Array;
  let init: Map<string, StoredTensor>;
  let failed: unknown;
  beforeAll(() => {
    try {
      model = impl.quantizeModel(fp32, NAMES);
      init = initializersOf(model);
    } catch (err) {
      failed = err; // each test reports it, under this implementation's name
    }
  });
  beforeEach(() => {
    if (failed) throw failed;
  });

  it('leaves every initializer that is not a MatMul weight byte for byte as it was', () => {
    for (const [n, t] of fp32Init) {
      if (NAMES.includes(n)) continue;
      const now = init.get(n);
      expect(now, `'${n}' is not a MatMul weight and is gone from the model`).toBeDefined();
      const same = now!.type === t.type && now!.raw.length === t.raw.length && now!.raw.every((b, i) => b === t.raw[i]);
      expect(same, `'${n}' is not a MatMul weight, but the rewrite changed it (${t.type} [${t.dims}] → ${now!.type} [${now!.dims}])`).toBe(true);
    }
  });

  it(`keeps the output cosine to fp32 ≥ ${MEAN_COSINE} on average and ≥ ${MIN_COSINE} for every input (seeded weights: outputs carry no meaning)`, async () => {
    const s = await openSession(model);
    let rows: Float32Array[];
    try {
      rows = await embedAll(s, texts);
    } finally {
      await s.release();
    }
    const cos = rowCosines(fp32Rows, rows);
    const mean = cos.reduce((a, b) => a + b, 0) / cos.length;
    const worst = Math.min(...cos);
    const at = cos.indexOf(worst);
    expect(mean, `mean output cosine to fp32 ${mean.toFixed(5)} over ${cos.length} inputs, below the ${MEAN_COSINE} floor`).toBeGreaterThanOrEqual(MEAN_COSINE);
    expect(worst, `input ${at} (${texts[at].length} tokens): output cosine to fp32 ${worst.toFixed(5)}, below the ${MIN_COSINE} floor`).toBeGreaterThanOrEqual(MIN_COSINE);
  });

  describe.skipIf(name === 'before')('the int8 weights', () => {
    it('stores every MatMul weight as an int8 initializer', () => {
      for (const n of NAMES) {
        const [rows, cols] = fp32Init.get(n)!.dims;
        expect(init.get(n)?.type, `'${n}' is still float32 in the model: the MatMul weights were not quantized`).not.toBe('float32');
        const q = init.get(`${n}_quantized`);
        expect(q?.type === 'int8' && q.dims.join() === `${rows},${cols}`, `'${n}' has no int8 [${rows}, ${cols}] initializer '${n}_quantized'`).toBe(true);
      }
    });

    it(`stores the int8 weights and their scales in ≤ ${SIZE_SHARE * 100}% of the fp32 weights' bytes`, () => {
      let before = 0;
      let now = 0;
      for (const n of NAMES) {
        before += fp32Init.get(n)!.bytes;
        for (const [k, t] of init) if (k === n || k.startsWith(`${n}_`)) now += t.bytes;
      }
      expect(now / before, `the MatMul weights take ${now} bytes, ${((100 * now) / before).toFixed(1)}% of their ${before} fp32 bytes, bound ${SIZE_SHARE * 100}%`).toBeLessThanOrEqual(SIZE_SHARE);
    });

    it('changes no weight into one of the opposite sign', () => {
      for (const n of NAMES) {
        const [rows, cols] = fp32Init.get(n)!.dims;
        const w = floatsOf(fp32Init.get(n)!);
        const d = dequantized(init, n, rows, cols);
        expect(d, `'${n}': no int8 codes with a scale found`).toBeDefined();
        for (let i = 0; i < w.length; i++) {
          if (w[i] * d![i] < 0) {
            expect.fail(`${n}[${Math.floor(i / cols)}, ${i % cols}] = ${w[i].toPrecision(4)} came back as ${d![i].toPrecision(4)}: it flipped sign (an int8 holds −128..127; a code of 128 wraps)`);
          }
        }
      }
    });

    it("keeps each weight within half of its own output column's int8 step (max |column| / 127 / 2)", () => {
      for (const n of NAMES) {
        const [rows, cols] = fp32Init.get(n)!.dims;
        const w = floatsOf(fp32Init.get(n)!);
        const d = dequantized(init, n, rows, cols)!;
        for (let c = 0; c < cols; c++) {
          let absMax = 0;
          for (let r = 0; r < rows; r++) absMax = Math.max(absMax, Math.abs(w[r * cols + c]));
          const half = absMax / 127 / 2;
          for (let r = 0; r < rows; r++) {
            const err = Math.abs(w[r * cols + c] - d[r * cols + c]);
            if (err > half * (1 + 1e-5) + 1e-12) {
              expect.fail(
                `${n}[${r}, ${c}]: error ${err.toExponential(3)}, more than half of column ${c}'s own int8 step (${half.toExponential(3)}): ` +
                  `this column's weights are measured in steps of a larger range than their own`,
              );
            }
          }
        }
      }
    });
  });
});
