import { RagError } from '../errors.ts';
import { gaussian, mulberry32 } from '../util/random.ts';
import { float, GraphBuilder } from './onnx-build.ts';

/**
 * A BERT-style transformer encoder with seeded random weights, written as an ONNX graph: by default the shape of
 * all-MiniLM-L6-v2 (6 layers, hidden 384, 12 heads, FFN 1536, a WordPiece-sized vocabulary of 30,522, 512 positions,
 * mean pooling). It costs what the real model costs (same tensors, same operators, same FLOPs per token), so the T3
 * lessons on speed, batching, threading and quantization fidelity measure something honest; its outputs carry no
 * meaning (the weights are noise), and every table that uses it must say so.
 *
 *   input_ids, attention_mask       int64 [batch, seq]   (0-padded, mask 1 on real tokens)
 *   x = LN(word[input_ids] + position[0..seq))                                    [batch, seq, hidden]
 *   per layer i:
 *     q, k, v = x·Wq + bq, x·Wk + bk, x·Wv + bv → [batch, heads, seq, hidden/heads]
 *     p = softmax(q·kᵀ / √(hidden/heads) + (1 − mask)·(−10000))                   masked keys get weight exp(−10⁴) = 0
 *     x = LN(x + (p·v)·Wo + bo)
 *     x = LN(x + gelu(x·W1 + b1)·W2 + b2)            gelu(y) = y · ½(1 + erf(y/√2)), the exact (not tanh) form
 *   m = Σₜ x·mask / max(Σₜ mask, 1e-9)                mean pooling over real tokens (sentence-transformers)
 *   sentence_embedding = m / max(‖m‖, 1e-12)          float32 [batch, hidden]; an all-padding row gives zeros
 *
 * The graph is what a Hugging Face BERT export looks like (MatMul + Add, Reshape/Transpose to heads, Div by √d, the
 * additive mask, Softmax, LayerNormalization, the Div/Erf/Add/Mul/Mul Gelu), so onnxruntime's optimiser fuses it the
 * way it fuses a modern export of the real model: BiasGelu, SkipLayerNormalization, FusedMatMul with the 1/√d folded
 * in (checked with onnxruntime-node 1.30's optimized-model dump). Attention stays unfused: ORT's run-time
 * AttentionFusion matches the opset ≤ 12 pattern (LayerNormalization v1, Unsqueeze with an `axes` attribute), so an
 * opset ≥ 13 export of the real model most likely runs unfused too; the fused contrib Attention comes from the offline
 * `onnxruntime.transformers` optimizer. `token_type_ids` is left
 * out (a single-segment encoder adds the same row to every token; OnnxEmbedder feeds ids and mask only), and so is
 * BERT's pooler, which mean pooling does not use.
 *
 * Weights live in named initializers so later lessons can find them: `embeddings.word.weight` [vocab, hidden],
 * `embeddings.position.weight` [maxPositions, hidden], `embeddings.norm.{weight,bias}`, and for layer i
 * `layer.{i}.attn.{q,k,v,out}.{weight,bias}`, `layer.{i}.attn.norm.{weight,bias}`, `layer.{i}.ffn.{up,down}.{weight,bias}`,
 * `layer.{i}.ffn.norm.{weight,bias}`. MatMul weights are stored [in, out] (the graph computes x·W), the layout an
 * exporter writes for a PyTorch Linear (`matmulWeightNames` lists them). Texts longer than `maxPositions` tokens are
 * the tokenizer's to truncate: the position Gather fails on them, as it does in the real model.
 *
 * Each tensor has its own seeded stream (seed and tensor name), drawn row-major: the same seed gives byte-identical
 * models, and changing one size leaves the tensors it does not touch as they were (a smaller vocabulary keeps a
 * prefix of the word table and every layer).
 */

export interface EncoderOptions {
  /** Transformer layers. Default 6. */
  layers?: number;
  /** Hidden width (the embedding's dimension). Default 384. */
  hidden?: number;
  /** Attention heads; must divide `hidden`. Default 12. */
  heads?: number;
  /** Feed-forward inner width. Default 1536. */
  ffn?: number;
  /** Rows of the word table (token ids 0..vocab−1; id 0 is [PAD]). Default 30,522 (BERT's WordPiece vocabulary). */
  vocab?: number;
  /** Rows of the position table: the longest input. Default 512. */
  maxPositions?: number;
  /** Weight seed: the same seed and sizes give byte-identical models. Default 42. */
  seed?: number;
  /** Standard deviation of the embedding tables and MatMul weights. Default 0.02 (BERT's initialisation). */
  weightStd?: number;
  /** Standard deviation of the MatMul biases. Default 0 (BERT initialises them to zero). */
  biasStd?: number;
  /**
   * Spread of the LayerNorm parameters: weight = 1 + N(0, normStd), bias = N(0, normStd). Default 0 (weight 1, bias 0,
   * BERT's initialisation). Tests set it (and `biasStd`) so that every parameter changes the output.
   */
  normStd?: number;
  /** LayerNormalization epsilon. Default 1e-12 (BERT's). */
  layerNormEpsilon?: number;
}

export type EncoderConfig = Readonly<Required<EncoderOptions>>;

/** The defaults: all-MiniLM-L6-v2's shape, BERT's initialisation. */
export const MINILM_L6: EncoderConfig = Object.freeze({
  layers: 6,
  hidden: 384,
  heads: 12,
  ffn: 1536,
  vocab: 30_522,
  maxPositions: 512,
  seed: 42,
  weightStd: 0.02,
  biasStd: 0,
  normStd: 0,
  layerNormEpsilon: 1e-12,
});

/** A configuration small enough for tests and a plain-TypeScript reference (59,520 parameters, builds in milliseconds). */
export const TINY_ENCODER: EncoderOptions = Object.freeze({ layers: 2, hidden: 32, heads: 2, ffn: 128, vocab: 1000, maxPositions: 64 });

/** The additive attention mask of a padded key, as BERT's `(1 − mask) · −10000`. */
export const MASKED_SCORE = -10_000;

/** Options → a complete, checked configuration. Throws RagError INVALID_INPUT on a shape that cannot be built. */
export function encoderConfig(opts: EncoderOptions = {}): EncoderConfig {
  const c: Required<EncoderOptions> = { ...MINILM_L6 };
  for (const [k, v] of Object.entries(opts)) {
    if (!(k in MINILM_L6)) throw new RagError('INVALID_INPUT', `encoder: unknown option '${k}' (options: ${Object.keys(MINILM_L6).join(', ')})`);
    if (v !== undefined) (c as Record<string, number>)[k] = v;
  }
  for (const k of ['layers', 'hidden', 'heads', 'ffn', 'vocab', 'maxPositions'] as const) {
    if (!Number.isInteger(c[k]) || c[k] < 1) throw new RagError('INVALID_INPUT', `encoder: ${k} must be a positive integer, got ${c[k]}`);
  }
  if (c.hidden % c.heads !== 0) {
    throw new RagError('INVALID_INPUT', `encoder: hidden (${c.hidden}) must be divisible by heads (${c.heads}): each head takes hidden/heads columns`);
  }
  if (!Number.isInteger(c.seed)) throw new RagError('INVALID_INPUT', `encoder: seed must be an integer, got ${c.seed}`);
  for (const k of ['weightStd', 'biasStd', 'normStd'] as const) {
    if (!Number.isFinite(c[k]) || c[k] < 0) throw new RagError('INVALID_INPUT', `encoder: ${k} must be a finite number >= 0, got ${c[k]}`);
  }
  if (!(c.layerNormEpsilon > 0 && Number.isFinite(c.layerNormEpsilon))) {
    throw new RagError('INVALID_INPUT', `encoder: layerNormEpsilon must be a positive number, got ${c.layerNormEpsilon}`);
  }
  return Object.freeze(c);
}

/** Parameters of an encoder of this shape (embedding tables included), from the shape alone. */
export function encoderParameterCount(opts: EncoderOptions = {}): number {
  const { layers, hidden: h, ffn: f, vocab, maxPositions } = encoderConfig(opts);
  const embeddings = vocab * h + maxPositions * h + 2 * h;
  const attention = 4 * (h * h + h) + 2 * h; // q, k, v, out + LayerNorm
  const feedForward = h * f + f + f * h + h + 2 * h; // up, down + LayerNorm
  return embeddings + layers * (attention + feedForward);
}

/** Names of the 2-D MatMul weights of the layers ([in, out]), in graph order: what a weight-quantization lesson rewrites. */
export function matmulWeightNames(opts: EncoderOptions = {}): string[] {
  const { layers } = encoderConfig(opts);
  const names: string[] = [];
  for (let i = 0; i < layers; i++) {
    for (const p of ['attn.q', 'attn.k', 'attn.v', 'attn.out', 'ffn.up', 'ffn.down']) names.push(`layer.${i}.${p}.weight`);
  }
  return names;
}

export interface WeightTensor {
  readonly dims: readonly number[];
  readonly data: Float32Array;
}

/** The seeded weights, by initializer name, in the order the graph declares them. */
export interface EncoderWeights {
  readonly config: EncoderConfig;
  readonly tensors: ReadonlyMap<string, WeightTensor>;
  /**
   * Per-layer widths after structured pruning (shared/model/prune.ts): layer i keeps `heads` of the config's heads
   * (each still hidden/config.heads wide, so q/k/v are [hidden, heads·headDim] and out [heads·headDim, hidden]) and an
   * FFN `ffn` wide. Default: every layer has the config's heads and ffn.
   */
  readonly layerShapes?: readonly LayerShape[];
}

/** One layer's attention heads and FFN width (see `EncoderWeights.layerShapes`). */
export interface LayerShape {
  readonly heads: number;
  readonly ffn: number;
}

/** Look one tensor up, with a clear error when a (possibly edited) weight set lacks it or has another shape. */
export function weightOf(w: EncoderWeights, name: string, dims: readonly number[]): Float32Array {
  const t = w.tensors.get(name);
  if (!t) throw new RagError('INVALID_INPUT', `encoder: the weights have no tensor '${name}'`);
  if (t.dims.length !== dims.length || t.dims.some((d, i) => d !== dims[i])) {
    throw new RagError('INVALID_INPUT', `encoder: '${name}' is [${t.dims}], the configuration needs [${dims}]`);
  }
  return t.data;
}

/** FNV-1a over the seed and a tensor name: one independent stream per tensor. */
function streamSeed(seed: number, name: string): number {
  let h = 0x811c9dc5;
  const s = `${seed >>> 0}:${name}`;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** The seeded weights of an encoder (what `buildEncoderModel` stores and `encoderReference` computes with). */
export function encoderWeights(opts: EncoderOptions = {}): EncoderWeights {
  const c = encoderConfig(opts);
  const { hidden: h, ffn: f } = c;
  const tensors = new Map<string, WeightTensor>();
  const normal = (name: string, dims: number[], mean: number, std: number) => {
    const data = new Float32Array(dims.reduce((a, b) => a * b, 1));
    if (std === 0) data.fill(mean);
    else {
      const draw = gaussian(mulberry32(streamSeed(c.seed, name)));
      for (let i = 0; i < data.length; i++) data[i] = mean + std * draw();
    }
    tensors.set(name, { dims, data });
  };
  const linear = (name: string, inDim: number, outDim: number) => {
    normal(`${name}.weight`, [inDim, outDim], 0, c.weightStd);
    normal(`${name}.bias`, [outDim], 0, c.biasStd);
  };
  const norm = (name: string) => {
    normal(`${name}.weight`, [h], 1, c.normStd);
    normal(`${name}.bias`, [h], 0, c.normStd);
  };
  normal('embeddings.word.weight', [c.vocab, h], 0, c.weightStd);
  normal('embeddings.position.weight', [c.maxPositions, h], 0, c.weightStd);
  norm('embeddings.norm');
  for (let i = 0; i < c.layers; i++) {
    for (const p of ['q', 'k', 'v', 'out']) linear(`layer.${i}.attn.${p}`, h, h);
    norm(`layer.${i}.attn.norm`);
    linear(`layer.${i}.ffn.up`, h, f);
    linear(`layer.${i}.ffn.down`, f, h);
    norm(`layer.${i}.ffn.norm`);
  }
  return { config: c, tensors };
}

/** Build the encoder's ONNX model from its options (defaults: MiniLM-L6's shape). Returns the serialised model. */
export function buildEncoderModel(opts: EncoderOptions = {}): Uint8Array {
  return buildEncoderFromWeights(encoderWeights(opts));
}

/**
 * Build the graph over given weights (e.g. `encoderWeights` edited by a pruning lesson). Every tensor the
 * configuration needs must be there with its shape; the graph's sizes come from `weights.config`.
 */
export function buildEncoderFromWeights(weights: EncoderWeights): Uint8Array {
  const c = encoderConfig(weights.config);
  const { hidden: H, heads: configHeads } = c;
  const headDim = H / configHeads;
  const shapes = weights.layerShapes;
  if (shapes !== undefined) {
    if (shapes.length !== c.layers) throw new RagError('INVALID_INPUT', `encoder: layerShapes has ${shapes.length} entries for ${c.layers} layers`);
    for (const [i, s] of shapes.entries()) {
      if (!Number.isInteger(s.heads) || s.heads < 1 || s.heads > configHeads || !Number.isInteger(s.ffn) || s.ffn < 1) {
        throw new RagError('INVALID_INPUT', `encoder: layer ${i} shape {heads: ${s.heads}, ffn: ${s.ffn}} needs 1..${configHeads} heads and ffn >= 1`);
      }
    }
  }
  const g = new GraphBuilder('encoder');
  const ids = g.input('input_ids', 'int64', ['batch', 'seq']);
  const mask = g.input('attention_mask', 'int64', ['batch', 'seq']);

  const w = (name: string, dims: number[]) => g.initializer(name, 'float32', dims, weightOf(weights, name, dims));
  const linear = (x: string, name: string, inDim: number, outDim: number) =>
    g.op('Add', [g.op('MatMul', [x, w(`${name}.weight`, [inDim, outDim])]), w(`${name}.bias`, [outDim])]);
  const eps = float(c.layerNormEpsilon);
  const layerNorm = (x: string, name: string) => g.op('LayerNormalization', [x, w(`${name}.weight`, [H]), w(`${name}.bias`, [H])], { axis: -1, epsilon: eps });

  // constants shared by every layer
  const one = g.floats([1], [], 'one');
  const half = g.floats([0.5], [], 'half');
  const sqrt2 = g.floats([Math.SQRT2], [], 'sqrt2');
  const sqrtHeadDim = g.floats([Math.sqrt(headDim)], [], 'sqrt_head_dim');
  const toHeadsOf = new Map<number, [string, string]>(); // heads → [to_heads, from_heads] shape constants
  const headShapes = (heads: number): [string, string] => {
    let t = toHeadsOf.get(heads);
    if (!t) {
      const sfx = heads === configHeads ? '' : `_${heads}`;
      t = [
        g.ints([0, 0, heads, headDim], [4], `to_heads${sfx}`), // 0: keep batch and seq (Reshape's default)
        g.ints([0, 0, heads * headDim], [3], `from_heads${sfx}`),
      ];
      toHeadsOf.set(heads, t);
    }
    return t;
  };
  // declared here, as before layerShapes existed (an unpruned model's bytes do not change), unless no layer uses them
  if (!shapes || shapes.some((s) => s.heads === configHeads)) headShapes(configHeads);

  // embeddings: word rows + the rows of positions 0..seq−1
  const word = g.op('Gather', [w('embeddings.word.weight', [c.vocab, H]), ids], { axis: 0 }); // [B, S, H]
  // position ids 0..seq−1 in every row, computed from input_ids (ones → cumulative sum − 1) rather than Range(seq), so
  // shape inference keeps [batch, seq] and the optimiser can fuse the residual Adds into SkipLayerNormalization
  const oneI = g.ints([1], [], 'one_i64'); // also the seq axis
  const ones = g.op('Add', [g.op('Mul', [ids, g.ints([0], [], 'zero_i64')]), oneI]);
  const positions = g.op('Sub', [g.op('CumSum', [ones, oneI]), oneI]); // [B, S]
  const pos = g.op('Gather', [w('embeddings.position.weight', [c.maxPositions, H]), positions], { axis: 0 }); // [B, S, H]
  let x = layerNorm(g.op('Add', [word, pos]), 'embeddings.norm');

  // the additive mask, [B, 1, 1, S]: 0 on real keys, −10000 on padding (exp underflows to exactly 0 after softmax)
  const maskF = g.op('Cast', [mask], { to: 1 /* FLOAT */ }); // [B, S]
  const maskBias = g.op('Mul', [g.op('Sub', [one, g.op('Unsqueeze', [maskF, g.ints([1, 2])])]), g.floats([MASKED_SCORE], [], 'masked_score')]);

  for (let i = 0; i < c.layers; i++) {
    const p = `layer.${i}`;
    const heads = shapes?.[i].heads ?? configHeads;
    const F = shapes?.[i].ffn ?? c.ffn;
    const A = heads * headDim; // attention width: H unless heads were pruned
    const [toHeads, fromHeads] = headShapes(heads);
    const heads4 = (t: string, perm: number[]) => g.op('Transpose', [g.op('Reshape', [t, toHeads])], { perm });
    const q = heads4(linear(x, `${p}.attn.q`, H, A), [0, 2, 1, 3]); // [B, h, S, d]
    const kT = heads4(linear(x, `${p}.attn.k`, H, A), [0, 2, 3, 1]); // [B, h, d, S]
    const v = heads4(linear(x, `${p}.attn.v`, H, A), [0, 2, 1, 3]); // [B, h, S, d]
    const scores = g.op('Add', [g.op('Div', [g.op('MatMul', [q, kT]), sqrtHeadDim]), maskBias]); // [B, h, S, S]
    const probs = g.op('Softmax', [scores], { axis: -1 });
    const context = g.op('Reshape', [g.op('Transpose', [g.op('MatMul', [probs, v])], { perm: [0, 2, 1, 3] }), fromHeads]); // [B, S, H]
    x = layerNorm(g.op('Add', [linear(context, `${p}.attn.out`, A, H), x]), `${p}.attn.norm`);
    const up = linear(x, `${p}.ffn.up`, H, F);
    const gelu = g.op('Mul', [g.op('Mul', [up, g.op('Add', [g.op('Erf', [g.op('Div', [up, sqrt2])]), one])]), half]);
    x = layerNorm(g.op('Add', [linear(gelu, `${p}.ffn.down`, F, H), x]), `${p}.ffn.norm`);
  }

  // mean pooling over real tokens, then L2 normalisation (sentence-transformers' clamps: 1e-9 and 1e-12)
  const sum = g.op('ReduceSum', [g.op('Mul', [x, g.op('Unsqueeze', [maskF, g.ints([-1])])]), g.ints([1])], { keepdims: 0 }); // [B, H]
  const count = g.op('Max', [g.op('ReduceSum', [maskF, g.ints([1])], { keepdims: 1 }), g.floats([1e-9], [], 'min_count')]); // [B, 1]
  const mean = g.op('Div', [sum, count]);
  const norm = g.op('Sqrt', [g.op('ReduceSumSquare', [mean, g.ints([1])], { keepdims: 1 })]);
  g.node('Div', [mean, g.op('Max', [norm, g.floats([1e-12], [], 'min_norm')])], {}, { outputs: ['sentence_embedding'] });
  g.output('sentence_embedding', 'float32', ['batch', H]);

  const { layers, vocab, maxPositions, seed, weightStd, biasStd, normStd } = c;
  return g.toBytes({
    docString:
      'BERT-style encoder with SEEDED RANDOM weights (rag-perf-lab shared/model/encoder.ts): the cost of a real model of this shape, outputs without meaning',
    metadata: {
      model: 'seeded-encoder',
      meaningful: 'false',
      config: JSON.stringify({ layers, hidden: H, heads: configHeads, ffn: c.ffn, vocab, maxPositions, seed, weightStd, biasStd, normStd }),
      ...(shapes ? { layerShapes: JSON.stringify(shapes) } : {}),
    },
  });
}
