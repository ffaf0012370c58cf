/**
 * What the checkpoint and the benchmark of 08-batching share: requests with a realistic mix of lengths, and the
 * batch function that runs one padded `session.run` for a list of requests (the seeded encoder's, and the static SIF
 * model's: the same feeds `OnnxEmbedder` builds, input_ids + attention_mask int64 0-padded to the longest).
 *
 * Seeded weights (shared/model/encoder.ts): the encoder's outputs carry no meaning; batching is judged by cost
 * (throughput, latency, padded tokens) and by fidelity (a batched row equals the row of the same text run alone).
 */
import type * as ort from 'onnxruntime-node';
import { tokenFeeds } from '../../shared/model/session.ts';
import { mulberry32 } from '../../shared/util/random.ts';
import type { RunBatch } from './after.ts';

/**
 * The length of request i: `min + ⌊(max − min + 1) · u³⌋` for a seeded uniform u, skewed short as search queries and
 * chunk titles are. For 8-128: median 23 tokens, mean 38, one in ten above 96.
 */
export function mixedLengths(count: number, min = 8, max = 128, seed = 808): number[] {
  const rand = mulberry32(seed);
  return Array.from({ length: count }, () => min + Math.min(max - min, Math.floor((max - min + 1) * rand() ** 3)));
}

/** Seeded token-id lists (ids 1..vocab−1; 0 pads) with `mixedLengths`. */
export function mixedTexts(count: number, vocab: number, min = 8, max = 128, seed = 808): number[][] {
  const rand = mulberry32(seed ^ 0x5a5a);
  return mixedLengths(count, min, max, seed).map((len) => Array.from({ length: len }, () => 1 + Math.floor(rand() * (vocab - 1))));
}

/**
 * `count` texts of real prose for the static model: consecutive spans of `words` (wrapping around), span i being
 * `mixedLengths(count, min, max, seed)[i]` words long, so the mix of lengths in words is the encoder's mix in tokens.
 * (The static model's ids drop stop words and words without a vector, so a span has about half as many ids.)
 */
export function wordSpans(words: readonly string[], count: number, min = 8, max = 128, seed = 808): string[] {
  if (words.length < max) throw new Error(`wordSpans: ${words.length} words, fewer than the longest span (${max})`);
  let at = 0;
  return mixedLengths(count, min, max, seed).map((len) => {
    if (at + len > words.length) at = 0;
    const text = words.slice(at, at + len).join(' ');
    at += len;
    return text;
  });
}

/** One padded `session.run` (input_ids + attention_mask, 0-padded to the longest) → the first output's rows. */
export function sessionRunBatch(session: ort.InferenceSession): RunBatch<number[], Float32Array> {
  const name = session.outputNames[0];
  return async (lists) => {
    const out = await session.run(tokenFeeds(lists));
    const y = out[name];
    const data = y.data as Float32Array;
    const dim = data.length / lists.length;
    const rows = lists.map((_, i) => data.slice(i * dim, (i + 1) * dim));
    y.dispose();
    return rows;
  };
}
