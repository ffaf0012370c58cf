/**
 * What the checkpoint and the benchmark of 07-model-parallelism share: the encoder shapes they split, and the seeded
 * token-id lists they embed. Seeded weights: outputs carry no meaning; the split model is judged by equality with the
 * whole model and by what it costs.
 */
import { encoderWeights, TINY_ENCODER, type EncoderOptions, type EncoderWeights } from '../../shared/model/encoder.ts';

/**
 * The checkpoint's encoder: TINY_ENCODER's widths (hidden 32, 2 heads, FFN 128, vocabulary 1,000) with MiniLM-L6's
 * six layers, so that the split (3 + 3) and a wrong one (1 + 5) can be told apart, and a trained-like spread
 * (weights 0.2, biases and LayerNorm 0.1: every parameter moves the output, as in shared/model/encoder.test.ts).
 */
export const CHECKPOINT_ENCODER: EncoderOptions = { ...TINY_ENCODER, layers: 6, weightStd: 0.2, biasStd: 0.1, normStd: 0.1 };

export function checkpointWeights(): EncoderWeights {
  return encoderWeights(CHECKPOINT_ENCODER);
}
