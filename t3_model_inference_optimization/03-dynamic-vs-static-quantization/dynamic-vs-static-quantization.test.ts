/**
 * Checkpoint for 03-dynamic-vs-static-quantization. `npm run checkpoint -- 03-dynamic-vs-static-quantization` runs it
 * against exercise.ts; plain `npx vitest run` checks before.ts (dynamic: only the fidelity checks apply, since a
 * per-call range clips nothing) and after.ts.
 *
 * The model: a small encoder (2 layers, hidden 128, 4 heads, FFN 512, vocabulary 1,000, 128 positions;
 * shared/model/encoder.ts) with seeded weights of std 0.1 (at BERT's 0.02 two small layers barely move the output and
 * every calibration looks alike) and non-zero biases and LayerNorm parameters. Seeded weights: outputs carry no
 * meaning; fidelity is the cosine of the quantized model's output to the fp32 model's. The calibration sample is
 * `calibrationTexts` (32 documents of 8-64 tokens, then 16 queries of 1-4 tokens); everything is measured on held-out
 * inputs none of which is in it: 150 documents, 150 queries and 50 long documents of 96-128 tokens (`HELD_OUT`).
 *
 * What is checked is read from the model bytes and counted, not timed: no activation is quantized per call (every
 * MatMul input has a QuantizeLinear with constant scale and zero point), at most 0.1% of any MatMul input's values on
 * each held-out set fall outside its fixed range (by more than half a step), and the output cosine to fp32 holds
 * floors per held-out set. Where too much is clipped, the message says what the range was fitted to, found by
 * counting what it clips of the calibration sample itself.
 */
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { implementations } from '../../shared/lab/checkpoint.ts';
import { buildEncoderFromWeights, encoderWeights, matmulWeightNames, type EncoderOptions } from '../../shared/model/encoder.ts';
import { floatsOf, initializersOf, nodesOf } from '../../shared/model/quantize.ts';
import { embedAll, openSession, rowCosines } from '../../shared/model/session.ts';
import { CALIBRATION_DOCUMENTS, calibrationTexts, clipCounts, fixedRanges, HELD_OUT, type FixedRange, type HeldOut } from './data.ts';

type Mod = typeof import('./after.ts');

/**
 * Floors on the output cosine to fp32 per held-out set, mean and least: below dynamic (before) and min/max over the
 * whole sample (after), above the wrong calibrations (measured figures in the README's exercise section).
 */
const FLOORS: Record<HeldOut, { mean: number; least: number; count: number }> = {
  documents: { mean: 0.9995, least: 0.999, count: 150 },
  queries: { mean: 0.9993, least: 0.997, count: 150 },
  'long documents': { mean: 0.9995, least: 0.999, count: 50 },
};
/** Share of one MatMul input's values on a held-out set that may fall outside its fixed range. */
const CLIP_SHARE = 1e-3;

const OPTS: EncoderOptions = { layers: 2, hidden: 128, heads: 4, ffn: 512, vocab: 1000, maxPositions: 128, weightStd: 0.1, biasStd: 0.02, normStd: 0.1 };
const NAMES = matmulWeightNames(OPTS);
const fp32 = buildEncoderFromWeights(encoderWeights(OPTS));
const fp32Init = initializersOf(fp32);
const calibration = calibrationTexts(OPTS.vocab!);
const sets = Object.fromEntries(Object.entries(FLOORS).map(([k, f]) => [k, HELD_OUT[k as HeldOut](OPTS.vocab!, f.count)])) as Record<HeldOut, number[][]>;

/** What a range that clips held-out inputs was most likely fitted to, from what it clips of the sample itself. */
async function diagnose(weight: string, ranges: Map<string, FixedRange | undefined>): Promise<string> {
  const r = ranges.get(weight)!;
  const w = floatsOf(fp32Init.get(weight)!);
  const wMax = w.reduce((a, b) => Math.max(a, b), 0);
  const wMin = w.reduce((a, b) => Math.min(a, b), 0);
  if (Math.abs(r.max - wMax) <= 2 * r.step && Math.abs(r.min - wMin) <= 2 * r.step) {
    return `That is the range of the fp32 weight '${weight}' itself: calibrate on the activations the MatMul reads (what the model computes from the sample), not on its weights.`;
  }
  const clipsOf = async (lists: number[][]) => (await clipCounts(fp32, NAMES, ranges, lists)).find((c) => c.weight === weight)?.clipped ?? 0;
  if ((await clipsOf(calibration.slice(0, 1))) > 0) {
    return 'It clips values of the very first calibration input: the range is narrower than what the sample held (a statistic of the centre, such as mean ± a few standard deviations, not of the extremes).';
  }
  if ((await clipsOf(calibration.slice(1, CALIBRATION_DOCUMENTS))) > 0) {
    return 'It covers the first calibration input but clips the other documents of the sample: one input does not show the extremes the others reach.';
  }
  if ((await clipsOf(calibration.slice(CALIBRATION_DOCUMENTS))) > 0) {
    return "It covers the sample's documents but clips its queries: short inputs attend to fewer tokens, and their activations reach further; calibrate on what the engine embeds, queries too.";
  }
  return 'It covers every value of the sample, so the held-out inputs reach further than anything calibrated.';
}

const fp32Rows = {} as Record<HeldOut, Float32Array[]>;
beforeAll(async () => {
  const s = await openSession(fp32);
  for (const k of Object.keys(sets) as HeldOut[]) fp32Rows[k] = await embedAll(s, sets[k]);
  await s.release();
});

describe.each(await implementations<Mod>(import.meta.url))('%s', (name, impl) => {
  let model: Uint8Array;
  let failed: unknown;
  beforeAll(async () => {
    try {
      model = await impl.quantizeModel(fp32, NAMES, calibration);
    } catch (err) {
      failed = err; // each test reports it, under this implementation's name
    }
  });
  beforeEach(() => {
    if (failed) throw failed;
  });

  it('keeps the output cosine to fp32 above the floors on held-out documents, queries and long documents (seeded weights: outputs carry no meaning)', async () => {
    const s = await openSession(model);
    try {
      for (const k of Object.keys(sets) as HeldOut[]) {
        const cos = rowCosines(fp32Rows[k], await embedAll(s, sets[k]));
        const mean = cos.reduce((a, b) => a + b, 0) / cos.length;
        const worst = Math.min(...cos);
        const at = cos.indexOf(worst);
        const f = FLOORS[k];
        expect(mean, `held-out ${k}: mean output cosine to fp32 ${mean.toFixed(5)} over ${cos.length} inputs, below the ${f.mean} floor`).toBeGreaterThanOrEqual(f.mean);
        expect(worst, `held-out ${k}, input ${at} (${sets[k][at].length} tokens): output cosine to fp32 ${worst.toFixed(5)}, below the ${f.least} floor`).toBeGreaterThanOrEqual(f.least);
      }
    } finally {
      await s.release();
    }
  });

  describe.skipIf(name === 'before')('the fixed activation ranges', () => {
    it('quantizes no activation per call: every MatMul input goes through a QuantizeLinear with a constant scale and zero point', () => {
      const dyn = nodesOf(model).filter((n) => n.opType === 'DynamicQuantizeLinear');
      expect(dyn.length, `${dyn.length} DynamicQuantizeLinear node(s) (on '${dyn[0]?.input[0]}'…): the activation scale is computed per call, with a min/max pass over the tensor on every run`).toBe(0);
      const ranges = fixedRanges(fp32, model, NAMES);
      for (const [w, r] of ranges) expect(r, `the input of the MatMul on '${w}' has no QuantizeLinear with a constant scale and zero point`).toBeDefined();
    });

    it(`clips at most ${CLIP_SHARE * 100}% of any MatMul input's values on held-out documents, queries and long documents`, async () => {
      const ranges = fixedRanges(fp32, model, NAMES);
      for (const k of Object.keys(sets) as HeldOut[]) {
        const counts = await clipCounts(fp32, NAMES, ranges, sets[k]);
        const worst = counts.reduce((a, b) => (b.clipped / b.values > a.clipped / a.values ? b : a));
        const share = worst.clipped / worst.values;
        if (share > CLIP_SHARE) {
          const r = ranges.get(worst.weight)!;
          expect.fail(
            `the input of the MatMul on '${worst.weight}': ${worst.clipped} of its ${worst.values} values on held-out ${k} (${(100 * share).toFixed(2)}%) fall outside the calibrated range ` +
              `[${r.min.toPrecision(4)}, ${r.max.toPrecision(4)}], bound ${CLIP_SHARE * 100}%. ${await diagnose(worst.weight, ranges)}`,
          );
        }
      }
    });
  });
});
