/**
 * What T3's lessons, checkpoints and benches share to run a model: a CPU session with fixed settings, seeded
 * token-id lists, a model's output rows for many lists, and the cosine between two models' rows (fidelity).
 */
import * as ort from 'onnxruntime-node';
import { mulberry32 } from '../util/random.ts';
import { encoderFeeds } from './lesson-model.ts';

/** A CPU session, graph optimisations on, `threads` intra-op threads (default 1: figures comparable between runs). */
export function openSession(bytes: Uint8Array, threads = 1): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(bytes, { executionProviders: ['cpu'], graphOptimizationLevel: 'all', intraOpNumThreads: threads, executionMode: 'sequential' });
}

/** `count` seeded token-id lists of lengths in [minLen, maxLen] (ids 1..vocab−1; 0 pads). Same seed, same lists. */
export function seededTexts(count: number, vocab: number, minLen: number, maxLen: number, seed = 12_345): number[][] {
  const rand = mulberry32(seed);
  return Array.from({ length: count }, () => {
    const len = minLen + Math.floor(rand() * (maxLen - minLen + 1));
    return Array.from({ length: len }, () => 1 + Math.floor(rand() * (vocab - 1)));
  });
}

/**
 * `input_ids` + `attention_mask` int64 tensors for token-id lists, 0-padded to the longest, and `token_type_ids`
 * zeros when `session` (or `typeIds`) says the model takes them (a BERT export does).
 */
export function tokenFeeds(lists: readonly ArrayLike<number>[], session?: Pick<ort.InferenceSession, 'inputNames'> | boolean): Record<string, ort.Tensor> {
  const typeIds = typeof session === 'boolean' ? session : (session?.inputNames.includes('token_type_ids') ?? false);
  return encoderFeeds(lists, typeIds);
}

/**
 * The model's output rows (its first output) for `lists`, run in padded batches of `batch`. A per-token output
 * ([batch, seq, dim]) gives each list's whole padded block as its row: compare rows of one batching only.
 */
export async function embedAll(session: ort.InferenceSession, lists: number[][], batch = 32): Promise<Float32Array[]> {
  const rows: Float32Array[] = [];
  for (let i = 0; i < lists.length; i += batch) {
    const part = lists.slice(i, i + batch);
    const out = await session.run(tokenFeeds(part, session));
    const y = out[session.outputNames[0]];
    const data = y.data as Float32Array;
    const dim = data.length / part.length;
    for (let r = 0; r < part.length; r++) rows.push(data.slice(r * dim, (r + 1) * dim));
    y.dispose();
  }
  return rows;
}

/** Cosine of each row of `a` with the same row of `b` (two zero rows: 1; one zero row: 0). */
export function rowCosines(a: Float32Array[], b: Float32Array[]): number[] {
  return a.map((x, i) => {
    const y = b[i];
    let dot = 0;
    let xx = 0;
    let yy = 0;
    for (let j = 0; j < x.length; j++) {
      dot += x[j] * y[j];
      xx += x[j] * x[j];
      yy += y[j] * y[j];
    }
    return xx > 0 && yy > 0 ? dot / Math.sqrt(xx * yy) : xx === yy ? 1 : 0;
  });
}
