/**
 * EXERCISE 02-int4 — store the encoder's MatMul weights in 4 bits and keep its outputs.
 *
 * As shipped it returns the model unchanged: every weight float32, correct and eight times bigger than it needs to
 * be. The checkpoint accepts the outputs and rejects the size.
 *
 * `quantizeModel(model, weightNames)` gets the serialised ONNX model and the names of its MatMul weights (float32
 * initializers W [K, N]; the graph computes x·W) and returns the rewritten model. `quantizeMatMulNBits` in
 * shared/model/quantize.ts replaces each MatMul by onnxruntime's MatMulNBits (com.microsoft, bits 4) and takes any
 * `NBitsQuantizer` you hand it: a function from W to MatMulNBits's packed form (`NBitsWeight`: B, scales, optional zero
 * points; the layout is in the README and in quantize.ts). What is yours: which weights share a scale (and a zero
 * point), and how a float becomes a 4-bit code in that layout.
 *
 * What must hold (checked by `npm run checkpoint -- 02-int4`, on a small encoder whose weights have a few outliers,
 * as a trained model's do):
 *   - every MatMul is a com.microsoft MatMulNBits with bits 4, its float weight gone from the model;
 *   - the 4-bit weights with their scales and zero points take ≤ 20% of the float32 weights' bytes;
 *   - every other initializer (embeddings, biases, LayerNorm) is byte for byte what it was;
 *   - read back as MatMulNBits reads it, each weight is within half of the 4-bit step of the 32 inputs of its column
 *     around it (their max |w| / 7 / 2);
 *   - the output cosine to the fp32 model is ≥ 0.994 on average over 300 seeded inputs and ≥ 0.99 for each.
 *
 * Then measure size, latency at batch 1/8/32 and fidelity beside before, after, lesson 01's int8 and one scale per
 * column:
 *   npm run t3 -- --only 02-int4 --impl exercise --quick
 * Stuck? npm run hint -- 02-int4
 */

/** Model bytes + the names of its [in, out] MatMul weight initializers → model bytes with those weights in 4 bits. */
export type QuantizeModel = (model: Uint8Array, weightNames: readonly string[]) => Uint8Array;

export function quantizeModel(model: Uint8Array, _weightNames: readonly string[]): Uint8Array {
  return model;
}
