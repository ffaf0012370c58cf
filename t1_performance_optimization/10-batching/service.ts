/**
 * A retrieval service with two batchers in a row, built from either implementation (before.ts or after.ts):
 *
 *     query(text) ──▶ [batcher] embedder.embed(texts) ──▶ [batcher] searchBatch(index, vectors, k) ──▶ Hit[]
 *
 * Items are validated before they are queued, so a bad request fails only its own caller and never a whole batch.
 * `onRequest` reports, per request, the time spent waiting for windows to close (the latency batching adds) and the
 * total latency.
 */
import { performance } from 'node:perf_hooks';
import { RagError } from '../../shared/errors.ts';
import type { Embedder } from '../../shared/types.ts';
import type * as After from './after.ts';
import type { MatrixIndex } from './data.ts';

export interface Impl {
  createBatcher: typeof After.createBatcher;
  searchBatch: typeof After.searchBatch;
}

export interface ServiceOptions extends After.BatcherOptions {
  /** Hits per query. Default 10. */
  k?: number;
  /** Called once per finished request: window wait (both stages) and total latency, in ms. */
  onRequest?: (waitMs: number, totalMs: number) => void;
}

export interface RetrievalService {
  query(text: string): Promise<After.Hit[]>;
  close(): Promise<void>;
}

interface Timed<T> {
  value: T;
  queuedAt: number;
  trace: { waitMs: number };
}

function started<T>(items: Timed<T>[]): T[] {
  const now = performance.now();
  for (const it of items) it.trace.waitMs += now - it.queuedAt;
  return items.map((it) => it.value);
}

export function createService(impl: Impl, embedder: Embedder, index: MatrixIndex, opts: ServiceOptions = {}): RetrievalService {
  const k = opts.k ?? 10;
  const batching = { maxItems: opts.maxItems, maxWaitMs: opts.maxWaitMs };
  const embed = impl.createBatcher<Timed<string>, Float32Array>((items) => embedder.embed(started(items)), batching);
  const search = impl.createBatcher<Timed<Float32Array>, After.Hit[]>((items) => impl.searchBatch(index, started(items), k), batching);
  return {
    async query(text: string): Promise<After.Hit[]> {
      if (typeof text !== 'string') throw new RagError('INVALID_INPUT', `query: text must be a string, got ${typeof text}`);
      const t0 = performance.now();
      const trace = { waitMs: 0 };
      const vector = await embed.submit({ value: text, queuedAt: performance.now(), trace });
      const hits = await search.submit({ value: vector, queuedAt: performance.now(), trace });
      opts.onRequest?.(trace.waitMs, performance.now() - t0);
      return hits;
    },
    async close() {
      await embed.close();
      await search.close();
    },
  };
}
