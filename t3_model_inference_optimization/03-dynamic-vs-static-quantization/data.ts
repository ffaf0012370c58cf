/**
 * What the checkpoint and the benchmark of 03-dynamic-vs-static-quantization share: the calibration sample and the
 * held-out inputs (within the calibration's distribution and outside it), feeds in batches, and the two figures read
 * from a rewritten model without timing it: the activation ranges its QuantizeLinear nodes fix, and the share of
 * activation values on held-out inputs that fall outside them (clipped). (Sessions, seeded token lists and fidelity:
 * shared/model/session.ts.)
 *
 * Seeded weights: outputs carry no meaning; fidelity is the cosine of the quantized model's output to the fp32
 * model's on the same input.
 */
import * as ort from 'onnxruntime-node';
import { exposeTensors, floatsOf, initializersOf, matmulInputs, nodesOf, type ActivationRange } from '../../shared/model/quantize.ts';
import { seededTexts, tokenFeeds } from '../../shared/model/session.ts';

/**
 * The calibration sample every implementation gets: what a RAG engine embeds, documents and queries. First 32 seeded
 * "documents" of 8-64 tokens (seed 1), then 16 "queries" of 1-4 tokens (seed 4).
 */
export const calibrationTexts = (vocab: number): number[][] => [...seededTexts(32, vocab, 8, 64, 1), ...seededTexts(16, vocab, 1, 4, 4)];
/** How many of `calibrationTexts` are documents (the rest are queries). */
export const CALIBRATION_DOCUMENTS = 32;

/** The held-out inputs fidelity and clipping are measured on, none of them in the calibration sample. */
export const HELD_OUT = {
  /** Documents as calibrated: other seeded texts of 8-64 tokens (seed 2). */
  documents: (vocab: number, count: number) => seededTexts(count, vocab, 8, 64, 2),
  /** Queries as calibrated: other seeded texts of 1-4 tokens (seed 5). */
  queries: (vocab: number, count: number) => seededTexts(count, vocab, 1, 4, 5),
  /** Longer than anything calibrated: 96-128 tokens (seed 3). */
  'long documents': (vocab: number, count: number) => seededTexts(count, vocab, 96, 128, 3),
} as const;
export type HeldOut = keyof typeof HELD_OUT;

/** Feeds for `lists` in batches of `batch`. */
export function batchedFeeds(lists: readonly number[][], batch = 16): Array<Record<string, ort.Tensor>> {
  const out = [];
  for (let i = 0; i < lists.length; i += batch) out.push(tokenFeeds(lists.slice(i, i + batch)));
  return out;
}

/**
 * The fixed activation range each MatMul input is quantized over in `quantized`, read from the QuantizeLinear that
 * reads that input (scale s, zero point z: [(0 − z) · s, (255 − z) · s]): weight name → range, or undefined where
 * the activation has no QuantizeLinear with constant parameters (e.g. DynamicQuantizeLinear: computed per call).
 */
export function fixedRanges(fp32: Uint8Array, quantized: Uint8Array, names: readonly string[]): Map<string, FixedRange | undefined> {
  const inputs = matmulInputs(fp32, names);
  const nodes = nodesOf(quantized);
  const init = initializersOf(quantized);
  const out = new Map<string, FixedRange | undefined>();
  for (const [w, x] of inputs) {
    const q = nodes.find((n) => n.opType === 'QuantizeLinear' && n.input[0] === x);
    const s = q && init.get(q.input[1]);
    const z = q && q.input[2] ? init.get(q.input[2]) : undefined;
    if (!s || s.type !== 'float32' || (q!.input[2] && !z)) {
      out.set(w, undefined);
      continue;
    }
    const scale = floatsOf(s)[0];
    const zero = z ? (z.type === 'uint8' ? z.raw[0] : new Int8Array(z.raw.buffer, z.raw.byteOffset, 1)[0]) : 0;
    const [lo, hi] = z?.type === 'int8' ? [-128, 127] : [0, 255];
    out.set(w, { min: (lo - zero) * scale, max: (hi - zero) * scale, step: scale });
  }
  return out;
}

/** A fixed activation range and its quantization step. */
export interface FixedRange extends ActivationRange {
  step: number;
}

export interface ClipCount {
  /** Weight whose input activation this is (the first of those sharing it). */
  weight: string;
  tensor: string;
  clipped: number;
  values: number;
}

/**
 * How many of each MatMul input's values on `lists` (run through the fp32 model) are clipped: further outside its
 * fixed range than half a step (closer than that, the end code is simply the nearest one, as rounding inside does).
 */
export async function clipCounts(fp32: Uint8Array, names: readonly string[], ranges: ReadonlyMap<string, FixedRange | undefined>, lists: readonly number[][]): Promise<ClipCount[]> {
  const inputs = matmulInputs(fp32, names);
  const byTensor = new Map<string, string>();
  for (const [w, x] of inputs) if (!byTensor.has(x)) byTensor.set(x, w);
  const tensors = [...byTensor.keys()];
  const counts = new Map<string, ClipCount>(tensors.map((t) => [t, { weight: byTensor.get(t)!, tensor: t, clipped: 0, values: 0 }]));
  const session = await ort.InferenceSession.create(exposeTensors(fp32, tensors), { executionProviders: ['cpu'], intraOpNumThreads: 1 });
  try {
    for (const f of batchedFeeds(lists)) {
      const out = await session.run(f, tensors);
      for (const t of tensors) {
        const r = ranges.get(byTensor.get(t)!);
        const d = out[t].data as Float32Array;
        const c = counts.get(t)!;
        c.values += d.length;
        if (r) {
          const lo = r.min - r.step / 2;
          const hi = r.max + r.step / 2;
          for (let i = 0; i < d.length; i++) if (d[i] < lo || d[i] > hi) c.clipped++;
        }
        out[t].dispose();
      }
    }
  } finally {
    await session.release();
  }
  return [...counts.values()];
}
