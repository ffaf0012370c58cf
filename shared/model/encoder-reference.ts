import { encoderConfig, MASKED_SCORE, weightOf, type EncoderWeights } from './encoder.ts';
import type { TokenBatch } from './onnx-embedder.ts';

/**
 * The encoder of `encoder.ts` computed in plain TypeScript: typed arrays and straightforward loops, in float64, one
 * batch row at a time, from the same seeded weights. It exists to check the ONNX graph (encoder.test.ts), not to be
 * fast: O(layers · seq · (hidden² + seq · hidden + hidden · ffn)) multiply-adds per row in JavaScript, fine for the
 * tiny test configuration, minutes for MiniLM's shape on long batches.
 *
 * It follows the graph's formula step by step (see encoder.ts), including the padded positions, which it computes
 * and then ignores exactly as the graph does: their keys get the additive −10000, their rows are left out of the mean.
 */

/** erf(x) to double precision: 2/√π · e^(−x²) · Σₙ 2ⁿ x^(2n+1) / (1·3·…·(2n+1)), a series of positive terms. */
export function erf(x: number): number {
  const a = Math.abs(x);
  if (a > 6) return Math.sign(x); // erfc(6) ≈ 2e-17
  let term = a;
  let sum = a;
  for (let n = 1; term > sum * 1e-17; n++) {
    term *= (2 * a * a) / (2 * n + 1);
    sum += term;
  }
  return Math.sign(x) * (2 / Math.sqrt(Math.PI)) * Math.exp(-a * a) * sum;
}

/** The exact Gelu: y · ½(1 + erf(y/√2)). */
export function gelu(y: number): number {
  return 0.5 * y * (1 + erf(y / Math.SQRT2));
}

/** out[t, 0..outDim) = x[t, 0..inDim) · W + b for each of `rows` rows; W is [inDim, outDim] row-major. */
function linear(x: Float64Array, rows: number, inDim: number, W: Float32Array, b: Float32Array, outDim: number): Float64Array {
  const out = new Float64Array(rows * outDim);
  for (let t = 0; t < rows; t++) {
    for (let o = 0; o < outDim; o++) {
      let s = b[o];
      for (let i = 0; i < inDim; i++) s += x[t * inDim + i] * W[i * outDim + o];
      out[t * outDim + o] = s;
    }
  }
  return out;
}

/** LayerNorm over each row of width h, in place: (x − mean) / √(var + ε) · γ + β (biased variance, as ONNX). */
function layerNorm(x: Float64Array, rows: number, h: number, gamma: Float32Array, beta: Float32Array, eps: number): void {
  for (let t = 0; t < rows; t++) {
    const off = t * h;
    let mean = 0;
    for (let j = 0; j < h; j++) mean += x[off + j];
    mean /= h;
    let v = 0;
    for (let j = 0; j < h; j++) v += (x[off + j] - mean) ** 2;
    const inv = 1 / Math.sqrt(v / h + eps);
    for (let j = 0; j < h; j++) x[off + j] = (x[off + j] - mean) * inv * gamma[j] + beta[j];
  }
}

/** The sentence embeddings of a padded batch, [batch × hidden] row-major, as the ONNX model's `sentence_embedding`. */
export function encoderReference(weights: EncoderWeights, input: TokenBatch): Float64Array {
  const c = encoderConfig(weights.config);
  const { hidden: H, heads, ffn: F, layerNormEpsilon: eps } = c;
  const d = H / heads;
  const S = input.seqLen;
  const W = (name: string, dims: number[]) => weightOf(weights, name, dims);
  const word = W('embeddings.word.weight', [c.vocab, H]);
  const position = W('embeddings.position.weight', [c.maxPositions, H]);
  const out = new Float64Array(input.batch * H);

  for (let b = 0; b < input.batch; b++) {
    const mask = Array.from({ length: S }, (_, t) => Number(input.mask[b * S + t]));

    // embeddings
    let x: Float64Array = new Float64Array(S * H);
    for (let t = 0; t < S; t++) {
      const id = Number(input.ids[b * S + t]);
      for (let j = 0; j < H; j++) x[t * H + j] = word[id * H + j] + position[t * H + j];
    }
    layerNorm(x, S, H, W('embeddings.norm.weight', [H]), W('embeddings.norm.bias', [H]), eps);

    for (let i = 0; i < c.layers; i++) {
      const p = `layer.${i}`;
      const proj = (input: Float64Array, name: string, inDim: number, outDim: number) =>
        linear(input, S, inDim, W(`${name}.weight`, [inDim, outDim]), W(`${name}.bias`, [outDim]), outDim);

      // self-attention, head by head
      const q = proj(x, `${p}.attn.q`, H, H);
      const k = proj(x, `${p}.attn.k`, H, H);
      const v = proj(x, `${p}.attn.v`, H, H);
      const context = new Float64Array(S * H);
      const scores = new Float64Array(S);
      for (let hd = 0; hd < heads; hd++) {
        const col = hd * d;
        for (let t = 0; t < S; t++) {
          let max = -Infinity;
          for (let u = 0; u < S; u++) {
            let s = 0;
            for (let e = 0; e < d; e++) s += q[t * H + col + e] * k[u * H + col + e];
            scores[u] = s / Math.sqrt(d) + (1 - mask[u]) * MASKED_SCORE;
            if (scores[u] > max) max = scores[u];
          }
          let z = 0;
          for (let u = 0; u < S; u++) z += (scores[u] = Math.exp(scores[u] - max));
          for (let u = 0; u < S; u++) {
            const pr = scores[u] / z;
            for (let e = 0; e < d; e++) context[t * H + col + e] += pr * v[u * H + col + e];
          }
        }
      }
      const attn = proj(context, `${p}.attn.out`, H, H);
      for (let j = 0; j < x.length; j++) attn[j] += x[j];
      layerNorm(attn, S, H, W(`${p}.attn.norm.weight`, [H]), W(`${p}.attn.norm.bias`, [H]), eps);
      x = attn;

      // feed-forward
      const up = proj(x, `${p}.ffn.up`, H, F);
      for (let j = 0; j < up.length; j++) up[j] = gelu(up[j]);
      const down = proj(up, `${p}.ffn.down`, F, H);
      for (let j = 0; j < x.length; j++) down[j] += x[j];
      layerNorm(down, S, H, W(`${p}.ffn.norm.weight`, [H]), W(`${p}.ffn.norm.bias`, [H]), eps);
      x = down;
    }

    // mean over real tokens, then L2 normalisation (an all-padding row stays zero)
    const row = out.subarray(b * H, (b + 1) * H);
    let count = 0;
    for (let t = 0; t < S; t++) {
      if (mask[t] === 0) continue;
      count += mask[t];
      for (let j = 0; j < H; j++) row[j] += x[t * H + j] * mask[t];
    }
    let norm = 0;
    for (let j = 0; j < H; j++) {
      row[j] /= Math.max(count, 1e-9);
      norm += row[j] * row[j];
    }
    norm = Math.max(Math.sqrt(norm), 1e-12);
    for (let j = 0; j < H; j++) row[j] /= norm;
  }
  return out;
}
