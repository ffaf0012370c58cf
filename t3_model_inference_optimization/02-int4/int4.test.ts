/**
 * Checkpoint for 02-int4. `npm run checkpoint -- 02-int4` runs it against exercise.ts; plain `npx vitest run` checks
 * before.ts (float32, the baseline: only the fidelity and "nothing else changed" checks apply) and after.ts.
 *
 * The model: a small encoder (2 layers, hidden 128, 4 heads, FFN 512; shared/model/encoder.ts) with seeded weights of
 * which 1 in 128 per MatMul weight is 6× larger (`outlierWeights` in data.ts: a trained model's weights have heavier
 * tails than BERT's Gaussian init, and that is what decides how many weights may share a 4-bit scale), weight std
 * 0.05, non-zero biases and LayerNorm parameters. Seeded weights: outputs carry no meaning; fidelity is the cosine of
 * the 4-bit model's output to the fp32 model's, over 300 seeded token-id lists of 1-48 tokens.
 *
 * What is checked is read from the model bytes (onnx-buf), not timed: every MatMul became a com.microsoft MatMulNBits
 * with bits 4 and its float weight is gone, the 4-bit weights and their scales and zero points take ≤ 20% of the fp32
 * weights' bytes, every other initializer is byte for byte the fp32 model's, each weight read back as MatMulNBits
 * reads it (`dequantizeNBits`, the kernel's contract in TypeScript) is within half of the 4-bit step of the 32 inputs
 * of its column around it, and the output cosine to fp32 is ≥ 0.994 on average and ≥ 0.99 for every input. Where a
 * weight comes back wrong, the message names the likely layout mistake (nibble order, codes in two's complement,
 * W not transposed) by decoding the bytes under that mistake and finding they fit.
 */
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { implementations } from '../../shared/lab/checkpoint.ts';
import { buildEncoderFromWeights, matmulWeightNames, type EncoderOptions } from '../../shared/model/encoder.ts';
import { dequantizeNBits, floatsOf, initializersOf, nodesOf, type NBitsWeight, type StoredTensor } from '../../shared/model/quantize.ts';
import { embedAll, openSession, rowCosines, seededTexts } from '../../shared/model/session.ts';
import { outlierWeights } from './data.ts';

type Mod = typeof import('./after.ts');

/**
 * Floors on the output cosine to fp32: measured on this model (README), blocks of 32 reach 0.99507 / 0.99212, blocks
 * of 16 0.99704 / 0.99414; blocks of 64 0.99299 / 0.98539, symmetric blocks of 32 0.99226 / 0.98341, one scale per
 * column 0.97426 / 0.96440.
 */
const MEAN_COSINE = 0.994;
const MIN_COSINE = 0.99;
/** 4-bit codes + a float scale and a 4-bit zero point per block, against float32: 12.5% + 4.5 bytes per block. */
const SIZE_SHARE = 0.2;
/** The group whose 4-bit step bounds each weight's error: 32 consecutive inputs of its output column. */
const GROUP = 32;

const OPTS: EncoderOptions = { layers: 2, hidden: 128, heads: 4, ffn: 512, vocab: 1000, maxPositions: 64, weightStd: 0.05, biasStd: 0.02, normStd: 0.1 };
const weights = outlierWeights(OPTS, 1 / 128, 6);
const NAMES = matmulWeightNames(OPTS);
const fp32 = buildEncoderFromWeights(weights);
const fp32Init = initializersOf(fp32);
const fp32Nodes = nodesOf(fp32);
const texts = seededTexts(300, weights.config.vocab, 1, 48);

/** Half the 4-bit step of the GROUP inputs of column n around input k: max |w| over them / 7 / 2. */
function halfStep(w: Float32Array, N: number, k: number, n: number): number {
  const k0 = Math.floor(k / GROUP) * GROUP;
  let m = 0;
  for (let i = k0; i < k0 + GROUP && i * N + n < w.length; i++) m = Math.max(m, Math.abs(w[i * N + n]));
  return m / 7 / 2;
}

/** The first weight further than half its group's step from `d`, or undefined. */
function firstMiss(w: Float32Array, d: Float32Array, K: number, N: number): { k: number; n: number; err: number; half: number } | undefined {
  for (let k = 0; k < K; k++) {
    for (let n = 0; n < N; n++) {
      const err = Math.abs(w[k * N + n] - d[k * N + n]);
      const half = halfStep(w, N, k, n);
      if (err > half * (1 + 1e-5) + 1e-12) return { k, n, err, half };
    }
  }
  return undefined;
}

const u8 = (t: StoredTensor) => new Uint8Array(t.raw);
const swapNibbles = (b: Uint8Array) => b.map((x) => ((x & 15) << 4) | (x >> 4));

/** Decode under a mistake; true when every weight then fits (what the learner's bytes most likely mean). */
function fitsUnder(w: Float32Array, K: number, N: number, q: NBitsWeight, mistake: 'swapped' | 'twos-complement' | 'not-transposed'): boolean {
  try {
    if (mistake === 'swapped') return !firstMiss(w, dequantizeNBits({ ...q, b: swapNibbles(q.b), zeroPoints: q.zeroPoints && swapNibbles(q.zeroPoints) }, K, N), K, N);
    if (mistake === 'twos-complement') {
      // codes written as q & 15 for q in −8..7: reading them with zero point 8 is reading (q ^ 8)
      return !firstMiss(w, dequantizeNBits({ ...q, b: q.b.map((x) => x ^ 0x88), zeroPoints: undefined }, K, N), K, N);
    }
    // B holding W's rows (blocks along N) instead of its columns: read with K and N exchanged, the bytes give Wᵀ back
    const wT = new Float32Array(w.length);
    for (let k = 0; k < K; k++) for (let n = 0; n < N; n++) wT[n * K + k] = w[k * N + n];
    return !firstMiss(wT, dequantizeNBits(q, N, K), N, K);
  } catch {
    return false;
  }
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
  let nodes: ReturnType<typeof nodesOf>;
  let failed: unknown;
  beforeAll(() => {
    try {
      model = impl.quantizeModel(fp32, NAMES);
      init = initializersOf(model);
      nodes = nodesOf(model);
    } catch (err) {
      failed = err; // each test reports it, under this implementation's name
    }
  });
  beforeEach(() => {
    if (failed) throw failed;
  });

  /** The MatMulNBits that replaced the MatMul reading weight `n`, and its weight as the kernel reads it. */
  function packed(n: string): { node: (typeof nodes)[number]; q: NBitsWeight } | undefined {
    const out = fp32Nodes.find((x) => x.opType === 'MatMul' && x.input[1] === n)!.output[0];
    const node = nodes.find((x) => x.output.includes(out));
    if (!node || node.opType !== 'MatMulNBits') return undefined;
    const [, b, s, z] = node.input;
    const scales = init.get(s);
    if (!init.get(b) || !scales) return undefined;
    return { node, q: { blockSize: node.ints.block_size, b: u8(init.get(b)!), scales: floatsOf(scales), zeroPoints: z ? u8(init.get(z)!) : undefined } };
  }

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

  describe.skipIf(name === 'before')('the 4-bit weights', () => {
    it('runs every MatMul on a weight as a com.microsoft MatMulNBits with bits 4, the float weight gone', () => {
      for (const n of NAMES) {
        expect(init.get(n)?.type, `'${n}' is still float32 in the model: the MatMul weights were not quantized`).not.toBe('float32');
        const p = packed(n);
        expect(p, `the MatMul reading '${n}' is not a MatMulNBits with its B and scales initializers`).toBeDefined();
        expect(p!.node.domain === 'com.microsoft' && p!.node.ints.bits === 4, `'${n}': MatMulNBits must be com.microsoft with bits 4 (got '${p!.node.domain}', bits ${p!.node.ints.bits})`).toBe(true);
      }
    });

    it(`stores the 4-bit weights, scales and zero points in ≤ ${SIZE_SHARE * 100}% of the fp32 weights' bytes`, () => {
      let before = 0;
      let now = 0;
      for (const n of NAMES) {
        before += fp32Init.get(n)!.bytes;
        const p = packed(n);
        if (p) now += p.q.b.length + p.q.scales.length * 4 + (p.q.zeroPoints?.length ?? 0);
        else now += fp32Init.get(n)!.bytes;
      }
      expect(now / before, `the MatMul weights take ${now} bytes, ${((100 * now) / before).toFixed(1)}% of their ${before} fp32 bytes, bound ${SIZE_SHARE * 100}%`).toBeLessThanOrEqual(SIZE_SHARE);
    });

    it(`reads each weight back (as MatMulNBits does) within half of the 4-bit step of the ${GROUP} inputs of its column around it`, () => {
      for (const n of NAMES) {
        const [K, N] = fp32Init.get(n)!.dims;
        const w = floatsOf(fp32Init.get(n)!);
        const p = packed(n);
        expect(p, `'${n}': no MatMulNBits weight found`).toBeDefined();
        const { q, node } = p!;
        expect(node.ints.K === K && node.ints.N === N, `'${n}' is [${K}, ${N}], its MatMulNBits says K=${node.ints.K}, N=${node.ints.N}`).toBe(true);
        const miss = firstMiss(w, dequantizeNBits(q, K, N), K, N);
        if (!miss) continue;
        const at = `${n}[${miss.k}, ${miss.n}] = ${w[miss.k * N + miss.n].toPrecision(4)}: read back as MatMulNBits reads it, error ${miss.err.toExponential(3)}`;
        if (fitsUnder(w, K, N, q, 'swapped')) expect.fail(`${at}. The nibble order is swapped: MatMulNBits reads element 2i from the low 4 bits of a byte and 2i+1 from the high 4 bits`);
        if (fitsUnder(w, K, N, q, 'twos-complement')) {
          expect.fail(`${at}. The codes are two's complement nibbles (−8..7 stored as q & 15), but MatMulNBits reads unsigned codes 0..15 minus the zero point (8 when none is given): store q + 8`);
        }
        if (fitsUnder(w, K, N, q, 'not-transposed')) {
          expect.fail(`${at}. B holds the rows of W, blocks along N (PyTorch's [out, in] habit); an ONNX MatMul weight is [K, N] and MatMulNBits wants it transposed: one output column per row of B, blocks along K`);
        }
        expect.fail(`${at}, more than half of the 4-bit step of the ${GROUP} inputs around it (${miss.half.toExponential(3)}): this weight shares its scale with a range wider than its block's`);
      }
    });
  });
});
