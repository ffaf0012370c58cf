/**
 * Wrong (on purpose): two codes per byte, the first in the high nibble ("the first one goes first", as one reads a hex
 * byte left to right). MatMulNBits reads element 2i from the low 4 bits and 2i+1 from the high 4 bits, so every pair
 * of neighbouring weights (and zero points) comes back exchanged.
 *
 * What differs from after.ts: the packer writes (even << 4) | odd instead of (odd << 4) | even.
 *
 * @rejected-with nibble order is swapped
 */
import { quantizeMatMulNBits, type NBitsQuantizer } from '../../../shared/model/quantize.ts';

export type { QuantizeModel } from '../after.ts';

/** Blocks of 32 along K, asymmetric, packed high nibble first. */
const highFirst: NBitsQuantizer = (w, K, N) => {
  const block = 32;
  const nBlocks = Math.ceil(K / block);
  const b = new Uint8Array(N * nBlocks * (block / 2));
  const scales = new Float32Array(N * nBlocks);
  const zeros = new Uint8Array(N * Math.ceil(nBlocks / 2));
  for (let n = 0; n < N; n++) {
    for (let blk = 0; blk < nBlocks; blk++) {
      let lo = 0;
      let hi = 0;
      for (let k = blk * block; k < Math.min(K, (blk + 1) * block); k++) {
        lo = Math.min(lo, w[k * N + n]);
        hi = Math.max(hi, w[k * N + n]);
      }
      const scale = hi > lo ? (hi - lo) / 15 : 1;
      const zero = Math.min(15, Math.max(0, Math.round(-lo / scale)));
      scales[n * nBlocks + blk] = scale;
      zeros[n * Math.ceil(nBlocks / 2) + (blk >> 1)] |= blk & 1 ? zero : zero << 4;
      for (let i = 0; i < block; i++) {
        const k = blk * block + i;
        const code = k < K ? Math.min(15, Math.max(0, Math.round(w[k * N + n] / scale) + zero)) : zero;
        b[(n * nBlocks + blk) * (block / 2) + (i >> 1)] |= i & 1 ? code : code << 4;
      }
    }
  }
  return { blockSize: block, b, scales, zeroPoints: zeros };
};

export function quantizeModel(model: Uint8Array, weightNames: readonly string[]): Uint8Array {
  return quantizeMatMulNBits(model, weightNames, { quantizer: highFirst, accuracyLevel: 4 });
}
