/**
 * Wrong (on purpose): the PyTorch habit. A torch Linear weight is [out, in], and every 4-bit tutorial cuts its rows
 * into blocks of 32 and packs them row after row. The ONNX MatMul weight here is [in, out] = [K, N]: packing its rows
 * the same way cuts blocks along N (32 output columns of one input) and fills B with the rows of W where MatMulNBits
 * expects its columns. The shapes and byte counts all match (K · N / 2 bytes either way); the weights the kernel
 * multiplies by are scrambled. (Written with the shared packer, which packs the columns of the [K, N] it is given:
 * hand it Wᵀ as a [N, K] matrix and its "columns" are W's rows.)
 *
 * What differs from after.ts: the blocks run along the rows of W (along N) instead of its columns (along K).
 *
 * @rejected-with holds the rows of W, blocks along N
 */
import { quantizeBlockwise4, quantizeMatMulNBits, type NBitsQuantizer } from '../../../shared/model/quantize.ts';

export type { QuantizeModel } from '../after.ts';

const rowsInBlocks: NBitsQuantizer = (w, K, N) => {
  const wT = new Float32Array(w.length); // [N, K]: row n of Wᵀ is column n of W, so "column" k of wT is row k of W
  for (let k = 0; k < K; k++) for (let n = 0; n < N; n++) wT[n * K + k] = w[k * N + n];
  return quantizeBlockwise4(wT, N, K, 32, 'asymmetric');
};

export function quantizeModel(model: Uint8Array, weightNames: readonly string[]): Uint8Array {
  return quantizeMatMulNBits(model, weightNames, { quantizer: rowsInBlocks, accuracyLevel: 4 });
}
