/**
 * What every implementation of the lesson shares around its scheduling: cutting a call's token-id lists into
 * micro-batches (int64 ids and mask, 0-padded to the micro-batch's longest list), and putting the rows back together
 * in the caller's order. `embedInMicroBatches(lists, size, run)` hands each micro-batch to `run` (the implementation's
 * scheduler) all at once and waits for all of them: the order of the result is the order of the micro-batches,
 * whatever order they finish in, and the first failure rejects the call.
 */
import * as ort from 'onnxruntime-node';
import { ATTENTION_MASK, INPUT_IDS } from '../../shared/model/encoder-stages.ts';
import { packTokenBatch } from '../../shared/model/onnx-embedder.ts';
import type { WireFeeds, WireTensor } from './stage-thread.ts';

/** Texts per micro-batch and micro-batches in flight when the options leave them out. */
export const DEFAULT_MICRO_BATCH = 8;
export const DEFAULT_WINDOW = 4;

/** `lists` cut into micro-batches of `size` lists, each packed as the first stage's feeds. */
export function microBatches(lists: readonly (readonly number[])[], size: number): WireFeeds[] {
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`microBatch must be a positive integer, got ${size}`);
  const out: WireFeeds[] = [];
  for (let i = 0; i < lists.length; i += size) {
    const b = packTokenBatch(lists.slice(i, i + size));
    const dims = [b.batch, b.seqLen];
    out.push({ [INPUT_IDS]: { type: 'int64', dims, data: b.ids }, [ATTENTION_MASK]: { type: 'int64', dims: [...dims], data: b.mask } });
  }
  return out;
}

/** The rows of a [batch, dim] float32 tensor, as views on its buffer (no copy). */
export function rowsOf(t: WireTensor): Float32Array[] {
  const [batch, dim] = t.dims;
  const data = t.data as Float32Array;
  return Array.from({ length: batch }, (_, r) => data.subarray(r * dim, (r + 1) * dim));
}

/** Cut `lists` into micro-batches, run each through `run` (which resolves with its [batch, dim] rows), reassemble. */
export async function embedInMicroBatches(
  lists: readonly (readonly number[])[],
  size: number,
  run: (feeds: WireFeeds) => Promise<WireTensor>,
): Promise<Float32Array[]> {
  const parts = await Promise.all(microBatches(lists, size).map(run));
  return parts.flatMap(rowsOf);
}

/** Wire tensors → onnxruntime tensors (same memory), for a session on this thread. */
export function toOrt(feeds: WireFeeds): Record<string, ort.Tensor> {
  return Object.fromEntries(Object.entries(feeds).map(([name, t]) => [name, new ort.Tensor(t.type, t.data, t.dims)]));
}

/** An onnxruntime tensor → a wire tensor (same memory). */
export function fromOrt(t: ort.Tensor): WireTensor {
  return { type: t.type as WireTensor['type'], dims: [...t.dims], data: t.data as Float32Array | BigInt64Array };
}

/** A positive integer option, or its default; anything else is a RangeError naming the option. */
export function positiveInt(value: number | undefined, fallback: number, what: string): number {
  const v = value ?? fallback;
  if (!Number.isInteger(v) || v < 1) throw new RangeError(`${what} must be a positive integer, got ${v}`);
  return v;
}
