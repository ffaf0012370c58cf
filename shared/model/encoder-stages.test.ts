import * as ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { expectRagError } from '../util/expect-rag-error.ts';
import { buildEncoderFromWeights, encoderWeights, TINY_ENCODER, type EncoderOptions } from './encoder.ts';
import {
  ATTENTION_MASK,
  buildEncoderStage,
  evenCuts,
  HIDDEN_OUT,
  HIDDEN_STATES,
  MASK_OUT,
  nextStageFeeds,
  SENTENCE_EMBEDDING,
  splitEncoder,
  stageLayers,
  type EncoderStage,
} from './encoder-stages.ts';
import { initializersOf } from './quantize.ts';
import { openSession, seededTexts, tokenFeeds } from './session.ts';

/**
 * The encoder cut into stages computes the whole encoder: chained stage by stage, the output equals the whole
 * model's within 1e-5 (the tolerance of encoder.test.ts, where the reasons are given; measured here: the same float32
 * operations in the same order, so the difference is a few ulps or exactly 0), for every way of cutting six layers.
 * Each stage stores only its own weights, and what crosses a boundary is one float32 [batch, seq, hidden] tensor and
 * the mask.
 *
 * Weights: TINY_ENCODER's widths with six layers (so there is something to cut) and a trained-like spread (weights
 * 0.2, biases and LayerNorm 0.1) under which every parameter moves the output, as in encoder.test.ts.
 */
const TOL = 1e-5;
const OPTS: EncoderOptions = { ...TINY_ENCODER, layers: 6, weightStd: 0.2, biasStd: 0.1, normStd: 0.1 };
const weights = encoderWeights(OPTS);
const H = weights.config.hidden;

/** Padded batches of lengths 1-48, an empty text among them. */
const lists = [...seededTexts(11, weights.config.vocab, 1, 48, 77), []];

let whole: Float32Array;
beforeAll(async () => {
  const s = await openSession(buildEncoderFromWeights(weights));
  const out = await s.run(tokenFeeds(lists));
  whole = Float32Array.from(out[SENTENCE_EMBEDDING].data as Float32Array);
  await s.release();
});

/** Run the stages one after the other on the same feeds; returns the output and every boundary tensor. */
async function chain(stages: EncoderStage[]): Promise<{ out: Float32Array; boundaries: ort.Tensor[][] }> {
  let feeds: Record<string, ort.Tensor> = tokenFeeds(lists);
  const boundaries: ort.Tensor[][] = [];
  for (const [i, stage] of stages.entries()) {
    const s = await openSession(stage.model);
    try {
      expect([...s.inputNames].sort()).toEqual([...stage.inputs].sort());
      expect([...s.outputNames].sort()).toEqual([...stage.outputs].sort());
      const out = await s.run(feeds);
      if (i === stages.length - 1) return { out: Float32Array.from(out[SENTENCE_EMBEDDING].data as Float32Array), boundaries };
      boundaries.push([out[HIDDEN_OUT], out[MASK_OUT]]);
      feeds = nextStageFeeds(out);
    } finally {
      await s.release();
    }
  }
  throw new Error('no stage');
}

const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i])), 0);

describe('splitEncoder', () => {
  it.each([[[]], [[3]], [[1]], [[5]], [[2, 4]], [[1, 2, 3, 4, 5]]])('cut at %j: the chained stages give the whole model within 1e-5', async (cuts) => {
    const stages = splitEncoder(weights, cuts);
    expect(stages.map((s) => [s.from, s.to])).toEqual([0, ...cuts].map((from, i) => [from, [...cuts, 6][i]]));
    const { out } = await chain(stages);
    expect(out.length).toBe(whole.length);
    const d = maxDiff(out, whole);
    expect(d, `max |difference| to the whole model ${d.toExponential(2)}`).toBeLessThanOrEqual(TOL);
  });

  it('passes exactly one float32 [batch, seq, hidden] tensor and the unchanged int64 mask across each boundary', async () => {
    const { boundaries } = await chain(splitEncoder(weights, [2, 4]));
    const feeds = tokenFeeds(lists);
    const [batch, seq] = feeds[ATTENTION_MASK].dims;
    expect(boundaries).toHaveLength(2);
    for (const [hidden, mask] of boundaries) {
      expect(hidden.type).toBe('float32');
      expect(hidden.dims).toEqual([batch, seq, H]);
      expect((hidden.data as Float32Array).length).toBe(batch * seq * H);
      expect(mask.type).toBe('int64');
      expect(mask.dims).toEqual([batch, seq]);
      expect(Array.from(mask.data as BigInt64Array)).toEqual(Array.from(feeds[ATTENTION_MASK].data as BigInt64Array));
    }
  });

  it("stores each weight in exactly one stage: the embeddings in the first, each layer's in its stage", () => {
    const stages = splitEncoder(weights, [3]);
    expect(stages.map((s) => stageLayers(s.model))).toEqual([
      [0, 1, 2],
      [3, 4, 5],
    ]);
    const held = stages.map((s) => new Set(initializersOf(s.model).keys()));
    for (const name of weights.tensors.keys()) {
      const where = held.flatMap((names, i) => (names.has(name) ? [i] : []));
      expect(where, `'${name}' is stored in stages [${where}]`).toHaveLength(1);
      if (name.startsWith('embeddings.')) expect(where).toEqual([0]);
    }
    expect(stageLayers(buildEncoderFromWeights(weights))).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('refuses cuts that are not strictly increasing layers inside the model', () => {
    expectRagError(() => splitEncoder(weights, [0]), /strictly increasing/);
    expectRagError(() => splitEncoder(weights, [6]), /strictly increasing/);
    expectRagError(() => splitEncoder(weights, [4, 2]), /strictly increasing/);
    expectRagError(() => splitEncoder(weights, [2.5]), /strictly increasing/);
    expectRagError(() => buildEncoderStage(weights, { from: 3, to: 3 }), /not a non-empty range/);
    expectRagError(() => nextStageFeeds({ [HIDDEN_OUT]: 1 }), /attention_mask_out/);
  });
});

describe('evenCuts', () => {
  it('splits layers as evenly as possible, the earlier stages one layer fewer when it does not divide', () => {
    expect(evenCuts(6, 1)).toEqual([]);
    expect(evenCuts(6, 2)).toEqual([3]);
    expect(evenCuts(6, 3)).toEqual([2, 4]);
    expect(evenCuts(7, 2)).toEqual([3]);
    expect(evenCuts(12, 4)).toEqual([3, 6, 9]);
    expectRagError(() => evenCuts(2, 3), /3 stages for 2 layers/);
    expectRagError(() => evenCuts(6, 0), /0 stages/);
  });
});
