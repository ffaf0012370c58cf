/**
 * Benchmark for 03-dynamic-vs-static-quantization: the seeded encoder (MiniLM-L6's shape in full mode, a small one in
 * quick mode) with int8 weights (one scale per output column, lesson 01) and its activations quantized per call
 * (before: DynamicQuantizeLinear, fused by onnxruntime into DynamicQuantizeMatMul) or with scales fixed once from a
 * calibration sample (after: min/max over documents and queries, QuantizeLinear → MatMulIntegerToFloat), beside the
 * same calibration with a 99.99% percentile, the static graph written as MatMulInteger → Cast → Mul (left unfused by
 * onnxruntime), and the fp32 model.
 * Run: npm run t3 -- --only 03-dynamic-vs-static-quantization [--quick] [--impl exercise]
 *
 * Headline: the time of one run at batch 8 (seq 64, one intra-op thread; tinybench, the variants interleaved). Beside
 * it, from extras: the latency at batch 1, 8 and 32 (median of the runs), the output cosine to the fp32 model on three
 * held-out sets (documents and queries as calibrated, and documents longer than any calibrated; mean and least), and
 * for the static variants the largest share of one MatMul input's values that falls outside its fixed range (clipped).
 * Seeded weights: outputs carry no meaning; fidelity is cosine to the fp32 model.
 */
import type * as ort from 'onnxruntime-node';
import { defineLesson, EXERCISE, type Metric } from '../../shared/lab/lesson.ts';
import { measured } from '../../shared/lab/metric.ts';
import type { EncoderOptions } from '../../shared/model/encoder.ts';
import { lessonEncoder } from '../../shared/model/lesson-model.ts';
import { cosineMetrics, latencyAtBatches } from '../../shared/model/lesson-metrics.ts';
import { calibrateActivations, percentileRange, minMaxRange, quantizeMatMulStatic } from '../../shared/model/quantize.ts';
import { embedAll, openSession, rowCosines, seededTexts, tokenFeeds } from '../../shared/model/session.ts';
import * as after from './after.ts';
import * as before from './before.ts';
import { batchedFeeds, calibrationTexts, clipCounts, fixedRanges, HELD_OUT, type HeldOut } from './data.ts';

type Mod = typeof after;
type Rewrite = (model: Uint8Array, names: readonly string[], calibration: readonly number[][]) => Promise<Uint8Array>;


interface Size {
  /** Encoder shape ({} = MiniLM-L6's). */
  encoder: EncoderOptions;
  label: string;
  seq: number;
  /** Timed runs per batch size for the latency figures (after one warm-up). */
  latencyRuns: number;
  /** Held-out inputs per set for fidelity and clipping. */
  heldOut: Record<HeldOut, number>;
}

interface Input {
  /** What the encoder's figures mean (lesson-model.ts: seeded, or the learner's model). */
  note: string;
  size: Size;
  fp32: Uint8Array;
  names: string[];
  vocab: number;
  models: Record<string, Uint8Array>;
  sessions: Record<string, ort.InferenceSession>;
  feeds: (batch: number) => Record<string, ort.Tensor>;
}

const VARIANTS: Record<string, { rewrite: Rewrite; what: string }> = {
  before: { rewrite: before.quantizeModel, what: 'int8 weights, activations quantized per call (DynamicQuantizeLinear → DynamicQuantizeMatMul)' },
  after: {
    rewrite: after.quantizeModel,
    what: 'int8 weights, activation scales fixed from min/max over the calibration sample (QuantizeLinear → MatMulIntegerToFloat)',
  },
  'static, percentile 99.99%': {
    rewrite: async (m, names, cal) => quantizeMatMulStatic(m, await calibrateActivations(m, names, batchedFeeds(cal), percentileRange(0.9999))),
    what: 'as after, the range from the 0.01% and 99.99% quantiles of the sample (the tails clipped for a finer step)',
  },
  'static as MatMulInteger (unfused)': {
    rewrite: async (m, names, cal) => quantizeMatMulStatic(m, await calibrateActivations(m, names, batchedFeeds(cal), minMaxRange), { format: 'integer' }),
    what: "after's ranges written as QuantizeLinear → MatMulInteger → Cast → Mul, which onnxruntime 1.30 leaves as separate kernels",
  },
  'fp32 (not quantized)': { rewrite: async (m) => m, what: 'the float32 model, for reference' },
};

const BATCHES = [1, 8, 32];

export default defineLesson<Size, Input>({
  id: 't3/03-dynamic-vs-static-quantization',
  title: 'Dynamic vs static quantization: activation scales per call vs fixed once from a calibration sample',
  workload:
    'the seeded encoder (random weights: outputs carry no meaning) with int8 weights, run by onnxruntime-node on one thread; the timed call is one run at batch 8, ' +
    'seq 64. Beside it: latency at batch 1/8/32, output cosine to fp32 on held-out documents, queries and long documents, and the share of activations clipped',
  sizes: {
    quick: {
      encoder: { layers: 2, hidden: 128, heads: 4, ffn: 512, vocab: 8_000, maxPositions: 128 },
      label: 'small encoder (2 layers, hidden 128, FFN 512, vocabulary 8,000)',
      seq: 64,
      latencyRuns: 5,
      heldOut: { documents: 40, queries: 60, 'long documents': 12 },
    },
    full: {
      encoder: {},
      label: 'MiniLM-L6 shape (6 layers, hidden 384, FFN 1536, vocabulary 30,522)',
      seq: 64,
      latencyRuns: 7,
      heldOut: { documents: 80, queries: 120, 'long documents': 16 },
    },
  },
  setup: async (size, ctx) => {
    const enc = await lessonEncoder(size.encoder, size.label, ctx.model);
    ctx.log(ctx.model ? `running ${enc.label}` : `building the ${size.label} with seeded weights`);
    const fp32 = enc.bytes;
    const names = enc.matmulWeights;
    const vocab = enc.vocab;
    const calibration = calibrationTexts(vocab);
    const ex = ctx.exercise as Mod | undefined;
    const rewrites: Record<string, Rewrite> = Object.fromEntries(Object.entries(VARIANTS).map(([k, v]) => [k, v.rewrite]));
    if (ex) rewrites[EXERCISE] = ex.quantizeModel;
    const models: Record<string, Uint8Array> = {};
    const sessions: Record<string, ort.InferenceSession> = {};
    for (const [name, rewrite] of Object.entries(rewrites)) {
      ctx.log(`calibrating, rewriting and loading: ${name}`);
      models[name] = await rewrite(fp32, names, calibration);
      sessions[name] = await openSession(models[name]);
    }
    const cache = new Map<number, Record<string, ort.Tensor>>();
    const feeds = (batch: number) => {
      let f = cache.get(batch);
      if (!f) {
        f = tokenFeeds(seededTexts(batch, vocab, size.seq, size.seq, 1000 + batch));
        cache.set(batch, f);
      }
      return f;
    };
    return { size: { ...size, label: enc.label }, note: enc.note, fp32, names, vocab, models, sessions, feeds };
  },
  teardown: async (input) => {
    for (const s of Object.values(input.sessions)) await s.release();
  },
  baseline: 'before',
  headline: { name: 'time per run at batch 8', unit: 'ms', better: 'lower' },
  variants: Object.fromEntries(Object.keys(VARIANTS).map((name) => [name, (input: Input) => input.sessions[name].run(input.feeds(8))])),
  exercise: (input) => input.sessions[EXERCISE].run(input.feeds(8)),
  extras: async (input, ctx) => {
    const { size } = input;
    const metrics: Metric[] = [];
    const names = Object.keys(input.sessions);
    const fp = input.sessions['fp32 (not quantized)'];
    for (const set of Object.keys(HELD_OUT) as HeldOut[]) {
      const lists = HELD_OUT[set](input.vocab, size.heldOut[set]);
      ctx.log(`fidelity and clipping: ${lists.length} held-out ${set}`);
      const ref = await embedAll(fp, lists);
      for (const name of names) {
        const cos = rowCosines(ref, await embedAll(input.sessions[name], lists));
        metrics.push(...cosineMetrics(`cosine to fp32 on ${set}`, cos, name, `${lists.length} held-out ${set}`, input.note));
        const ranges = fixedRanges(input.fp32, input.models[name], input.names);
        if (![...ranges.values()].every(Boolean)) continue; // per-call ranges (before) or none (fp32): nothing clipped
        const counts = await clipCounts(input.fp32, input.names, ranges, lists);
        const worst = counts.reduce((a, b) => (b.clipped / b.values > a.clipped / a.values ? b : a));
        metrics.push({
          name: `activations clipped on ${set}, worst MatMul input`,
          value: (100 * worst.clipped) / worst.values,
          unit: '%',
          variant: name,
          note: `${worst.clipped} of ${worst.values} values of the input of '${worst.weight}' outside its fixed range (by more than half a step)`,
        });
      }
    }
    // latency: the variants in rotation within each batch size, so load on the machine falls on all of them alike
    metrics.push(...(await latencyAtBatches(input.sessions, input.feeds, BATCHES, size.latencyRuns, `one run, seq ${size.seq}, intraOpNumThreads 1`)));
    return { metrics };
  },
});
