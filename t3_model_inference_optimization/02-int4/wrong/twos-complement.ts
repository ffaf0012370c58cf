/**
 * Wrong (on purpose): "int4 is −8..7", so each block gets scale max |w| / 7, codes q = round(w / scale) in −8..7, stored
 * as q & 15 (the nibble of a two's complement int4) and no zero point, since the range is symmetric. But MatMulNBits's
 * codes are unsigned, 0..15, and without a zero-point input it subtracts 8: q = 3 is stored as 3 and read as −5,
 * q = −3 is stored as 13 and read as 5. Every weight moves by 8 steps, most change sign.
 *
 * What differs from after.ts: signed codes written as two's complement nibbles instead of q + zero point.
 *
 * @rejected-with two's complement nibbles
 */
import { quantizeMatMulNBits, type NBitsQuantizer } from '../../../shared/model/quantize.ts';

export type { QuantizeModel } from '../after.ts';

const signed4: NBitsQuantizer = (w, K, N) => {
  const block = 32;
  const nBlocks = Math.ceil(K / block);
  const b = new Uint8Array(N * nBlocks * (block / 2));
  const scales = new Float32Array(N * nBlocks);
  for (let n = 0; n < N; n++) {
    for (let blk = 0; blk < nBlocks; blk++) {
      let m = 0;
      for (let k = blk * block; k < Math.min(K, (blk + 1) * block); k++) m = Math.max(m, Math.abs(w[k * N + n]));
      const scale = m > 0 ? m / 7 : 1;
      scales[n * nBlocks + blk] = scale;
      for (let i = 0; i < block; i++) {
        const k = blk * block + i;
        const q = k < K ? Math.max(-8, Math.min(7, Math.round(w[k * N + n] / scale))) : 0;
        b[(n * nBlocks + blk) * (block / 2) + (i >> 1)] |= (q & 15) << (i & 1 ? 4 : 0);
      }
    }
  }
  return { blockSize: block, b, scales };
};

export function quantizeModel(model: Uint8Array, weightNames: readonly string[]): Uint8Array {
  return quantizeMatMulNBits(model, weightNames, { quantizer: signed4, accuracyLevel: 4 });
}
