/** Seeded workload for the lesson: gaussian vectors (same seed, same vectors on every machine). */
import { gaussian, mulberry32 } from '../../shared/util/random.ts';

export function randomVectors(n: number, dim: number, seed: number): number[][] {
  const g = gaussian(mulberry32(seed));
  const out: number[][] = new Array(n);
  for (let i = 0; i < n; i++) {
    const v = new Array<number>(dim);
    for (let j = 0; j < dim; j++) v[j] = g();
    out[i] = v;
  }
  return out;
}
