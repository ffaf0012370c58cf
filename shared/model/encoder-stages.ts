import { RagError } from '../errors.ts';
import { encoderConfig, MASKED_SCORE, weightOf, type EncoderWeights } from './encoder.ts';
import { initializersOf } from './quantize.ts';
import { float, GraphBuilder } from './onnx-build.ts';

/**
 * The seeded encoder (encoder.ts) cut into stages by layer, each stage an ONNX graph of its own, for model (pipeline)
 * parallelism: T3 lesson 07 runs each stage in its own worker thread with its own session.
 *
 *   stage [0, k)       input_ids, attention_mask int64 [batch, seq]
 *                      → embeddings, layers 0..k−1
 *                      → hidden_states_out float32 [batch, seq, hidden], attention_mask_out int64 [batch, seq] (the mask)
 *   stage [k, m)       hidden_states, attention_mask → layers k..m−1 → hidden_states_out, attention_mask_out
 *   stage [m, layers)  hidden_states, attention_mask → layers m..layers−1, mean pooling, L2 normalisation
 *                      → sentence_embedding float32 [batch, hidden]
 *
 * A stage holds only its own weights (the first stage the embedding tables, each stage its layers), so the stages of a
 * model together store what the whole model stores. Chained, their output is the whole model's: the same operators
 * in the same order as `buildEncoderFromWeights` (encoder.ts), so onnxruntime fuses them the same way inside each
 * stage (`encoder-stages.test.ts` compares them within 1e-5). The attention mask is an output of every stage but the
 * last (an Identity), so the next stage is fed from the previous stage's outputs alone (`nextStageFeeds`).
 *
 * What crosses a stage boundary is exactly one float32 tensor [batch, seq, hidden] (plus the int64 mask): for
 * MiniLM-L6's shape, 8 texts of 64 tokens are 8 · 64 · 384 · 4 = 786,432 bytes.
 *
 * Layer widths are read from the weights (q [hidden, heads·headDim], ffn.up [hidden, ffn]), so weights whose heads or
 * FFN neurons were pruned per layer split the same way.
 */

/** The tensor between stages: float32 [batch, seq, hidden]. */
export const HIDDEN_STATES = 'hidden_states';
/** Token ids, int64 [batch, seq]: the first stage's input. */
export const INPUT_IDS = 'input_ids';
/** The padding mask, int64 [batch, seq]: an input of every stage, an output of every stage but the last. */
export const ATTENTION_MASK = 'attention_mask';
/**
 * What a stage passes on, under names of their own (a graph output cannot share an input's name, and a middle stage
 * has both): the next stage's `hidden_states` and `attention_mask`.
 */
export const HIDDEN_OUT = 'hidden_states_out';
export const MASK_OUT = 'attention_mask_out';
/** The pooled, L2-normalised rows, float32 [batch, hidden]: the last stage's output. */
export const SENTENCE_EMBEDDING = 'sentence_embedding';

/** Layers [from, to) of an encoder. */
export interface StageSpec {
  from: number;
  to: number;
}

/** One stage: its layers, its serialised ONNX model, and the names it reads and writes. */
export interface EncoderStage extends StageSpec {
  /** The serialised ONNX model of this stage alone. */
  model: Uint8Array;
  /** Its input names: `input_ids` + `attention_mask` for the first stage, `hidden_states` + `attention_mask` after. */
  inputs: readonly string[];
  /** Its output names: `hidden_states_out` + `attention_mask_out`, or `sentence_embedding` for the last stage. */
  outputs: readonly string[];
}

/**
 * Cut points that split `layers` layers into `stages` stages as evenly as possible (6 layers, 2 stages → [3]: layers
 * 0..2 and 3..5). When the count does not divide, the earlier stages get one layer fewer, since the first stage also
 * runs the embeddings.
 */
export function evenCuts(layers: number, stages: number): number[] {
  if (!Number.isInteger(stages) || stages < 1 || stages > layers) {
    throw new RagError('INVALID_INPUT', `evenCuts: ${stages} stages for ${layers} layers (each stage needs at least one layer)`);
  }
  const cuts: number[] = [];
  for (let s = 1; s < stages; s++) cuts.push(Math.floor((s * layers) / stages));
  return cuts;
}

/**
 * The encoder split at `cuts` (layer indices, strictly increasing, each in 1..layers−1): `cuts.length + 1` stages.
 * `splitEncoder(w, [])` is one stage, the whole model; `splitEncoder(w, evenCuts(layers, 2))` the lesson's two.
 */
export function splitEncoder(weights: EncoderWeights, cuts: readonly number[]): EncoderStage[] {
  const { layers } = encoderConfig(weights.config);
  const bounds = [0, ...cuts, layers];
  for (let i = 1; i < bounds.length; i++) {
    if (!Number.isInteger(bounds[i]) || bounds[i] <= bounds[i - 1]) {
      throw new RagError('INVALID_INPUT', `splitEncoder: cuts [${cuts.join(', ')}] must be strictly increasing integers in 1..${layers - 1} (${layers} layers)`);
    }
  }
  return bounds.slice(1).map((to, i) => buildEncoderStage(weights, { from: bounds[i], to }));
}

/** Layers [from, to) of the encoder as one ONNX graph (see the file's header for its inputs and outputs). */
export function buildEncoderStage(weights: EncoderWeights, spec: StageSpec): EncoderStage {
  const c = encoderConfig(weights.config);
  const { from, to } = spec;
  if (!Number.isInteger(from) || !Number.isInteger(to) || from < 0 || to > c.layers || from >= to) {
    throw new RagError('INVALID_INPUT', `buildEncoderStage: layers [${from}, ${to}) is not a non-empty range of 0..${c.layers}`);
  }
  const first = from === 0;
  const last = to === c.layers;
  const { hidden: H } = c;
  const headDim = H / c.heads;
  const g = new GraphBuilder(`encoder-stage-${from}-${to}`);
  const w = (name: string, dims: number[]) => g.initializer(name, 'float32', dims, weightOf(weights, name, dims));
  const linear = (x: string, name: string, inDim: number, outDim: number) =>
    g.op('Add', [g.op('MatMul', [x, w(`${name}.weight`, [inDim, outDim])]), w(`${name}.bias`, [outDim])]);
  const eps = float(c.layerNormEpsilon);
  const layerNorm = (x: string, name: string) => g.op('LayerNormalization', [x, w(`${name}.weight`, [H]), w(`${name}.bias`, [H])], { axis: -1, epsilon: eps });
  /** A 2-D weight's width (its second dimension): pruned layers have fewer heads or FFN neurons. */
  const widthOf = (name: string): number => {
    const t = weights.tensors.get(name);
    if (!t || t.dims.length !== 2) throw new RagError('INVALID_INPUT', `buildEncoderStage: the weights have no 2-D tensor '${name}'`);
    return t.dims[1];
  };

  let x: string;
  let mask: string;
  const one = g.floats([1], [], 'one');
  if (first) {
    const ids = g.input(INPUT_IDS, 'int64', ['batch', 'seq']);
    mask = g.input(ATTENTION_MASK, 'int64', ['batch', 'seq']);
    // embeddings, as encoder.ts: word rows + position rows 0..seq−1 (positions from a cumulative sum of ones)
    const word = g.op('Gather', [w('embeddings.word.weight', [c.vocab, H]), ids], { axis: 0 });
    const oneI = g.ints([1], [], 'one_i64');
    const ones = g.op('Add', [g.op('Mul', [ids, g.ints([0], [], 'zero_i64')]), oneI]);
    const positions = g.op('Sub', [g.op('CumSum', [ones, oneI]), oneI]);
    const pos = g.op('Gather', [w('embeddings.position.weight', [c.maxPositions, H]), positions], { axis: 0 });
    x = layerNorm(g.op('Add', [word, pos]), 'embeddings.norm');
  } else {
    x = g.input(HIDDEN_STATES, 'float32', ['batch', 'seq', H]);
    mask = g.input(ATTENTION_MASK, 'int64', ['batch', 'seq']);
  }
  const maskF = g.op('Cast', [mask], { to: 1 /* FLOAT */ });

  const half = g.floats([0.5], [], 'half');
  const sqrt2 = g.floats([Math.SQRT2], [], 'sqrt2');
  const sqrtHeadDim = g.floats([Math.sqrt(headDim)], [], 'sqrt_head_dim');
  const maskBias = g.op('Mul', [g.op('Sub', [one, g.op('Unsqueeze', [maskF, g.ints([1, 2])])]), g.floats([MASKED_SCORE], [], 'masked_score')]);
  const shapeConsts = new Map<number, [string, string]>();
  const headShapes = (heads: number): [string, string] => {
    let s = shapeConsts.get(heads);
    if (!s) {
      s = [g.ints([0, 0, heads, headDim], [4], 'to_heads'), g.ints([0, 0, heads * headDim], [3], 'from_heads')];
      shapeConsts.set(heads, s);
    }
    return s;
  };

  for (let i = from; i < to; i++) {
    const p = `layer.${i}`;
    const A = widthOf(`${p}.attn.q.weight`); // heads · headDim
    const F = widthOf(`${p}.ffn.up.weight`);
    if (A % headDim !== 0) throw new RagError('INVALID_INPUT', `buildEncoderStage: '${p}.attn.q.weight' is ${A} wide, not a multiple of the head width ${headDim}`);
    const [toHeads, fromHeads] = headShapes(A / headDim);
    const heads4 = (t: string, perm: number[]) => g.op('Transpose', [g.op('Reshape', [t, toHeads])], { perm });
    const q = heads4(linear(x, `${p}.attn.q`, H, A), [0, 2, 1, 3]);
    const kT = heads4(linear(x, `${p}.attn.k`, H, A), [0, 2, 3, 1]);
    const v = heads4(linear(x, `${p}.attn.v`, H, A), [0, 2, 1, 3]);
    const scores = g.op('Add', [g.op('Div', [g.op('MatMul', [q, kT]), sqrtHeadDim]), maskBias]);
    const probs = g.op('Softmax', [scores], { axis: -1 });
    const context = g.op('Reshape', [g.op('Transpose', [g.op('MatMul', [probs, v])], { perm: [0, 2, 1, 3] }), fromHeads]);
    x = layerNorm(g.op('Add', [linear(context, `${p}.attn.out`, A, H), x]), `${p}.attn.norm`);
    const up = linear(x, `${p}.ffn.up`, H, F);
    const gelu = g.op('Mul', [g.op('Mul', [up, g.op('Add', [g.op('Erf', [g.op('Div', [up, sqrt2])]), one])]), half]);
    x = layerNorm(g.op('Add', [linear(gelu, `${p}.ffn.down`, F, H), x]), `${p}.ffn.norm`);
  }

  let outputs: string[];
  if (last) {
    // mean pooling over real tokens, then L2 normalisation (as encoder.ts)
    const sum = g.op('ReduceSum', [g.op('Mul', [x, g.op('Unsqueeze', [maskF, g.ints([-1])])]), g.ints([1])], { keepdims: 0 });
    const count = g.op('Max', [g.op('ReduceSum', [maskF, g.ints([1])], { keepdims: 1 }), g.floats([1e-9], [], 'min_count')]);
    const mean = g.op('Div', [sum, count]);
    const norm = g.op('Sqrt', [g.op('ReduceSumSquare', [mean, g.ints([1])], { keepdims: 1 })]);
    g.node('Div', [mean, g.op('Max', [norm, g.floats([1e-12], [], 'min_norm')])], {}, { outputs: [SENTENCE_EMBEDDING] });
    g.output(SENTENCE_EMBEDDING, 'float32', ['batch', H]);
    outputs = [SENTENCE_EMBEDDING];
  } else {
    g.node('Identity', [x], {}, { outputs: [HIDDEN_OUT] });
    g.output(HIDDEN_OUT, 'float32', ['batch', 'seq', H]);
    // the mask goes on with the hidden states: the next stage needs it for attention (and the last for pooling)
    g.node('Identity', [mask], {}, { outputs: [MASK_OUT] });
    g.output(MASK_OUT, 'int64', ['batch', 'seq']);
    outputs = [HIDDEN_OUT, MASK_OUT];
  }
  const model = g.toBytes({
    docString: `layers ${from}..${to - 1} of a BERT-style encoder with SEEDED RANDOM weights (rag-perf-lab shared/model/encoder-stages.ts): outputs without meaning`,
    metadata: { model: 'seeded-encoder-stage', layers: `${from}-${to}`, of: String(c.layers) },
  });
  return { from, to, model, inputs: first ? [INPUT_IDS, ATTENTION_MASK] : [HIDDEN_STATES, ATTENTION_MASK], outputs };
}

/**
 * The next stage's feeds from a stage's outputs: `hidden_states_out` as `hidden_states`, `attention_mask_out` as
 * `attention_mask`.
 * Works on any tensor representation (onnxruntime tensors, or typed arrays posted between threads).
 */
export function nextStageFeeds<T>(outputs: Readonly<Record<string, T>>): Record<string, T> {
  const hidden = outputs[HIDDEN_OUT];
  const mask = outputs[MASK_OUT];
  if (hidden === undefined || mask === undefined) {
    throw new RagError('INVALID_INPUT', `nextStageFeeds: a stage passes on '${HIDDEN_OUT}' and '${MASK_OUT}', got [${Object.keys(outputs).join(', ')}]`);
  }
  return { [HIDDEN_STATES]: hidden, [ATTENTION_MASK]: mask };
}

/**
 * The layer indices whose weights a serialised model stores (`layer.<i>.…` initializers), sorted: what a stage
 * really runs, read from its bytes. A whole encoder gives 0..layers−1.
 */
export function stageLayers(model: Uint8Array): number[] {
  const layers = new Set<number>();
  for (const name of initializersOf(model).keys()) {
    const m = /^layer\.(\d+)\./.exec(name);
    if (m) layers.add(Number(m[1]));
  }
  return [...layers].sort((a, b) => a - b);
}
