/**
 * The engine's ONNX embedder as a served model (`npm run serve -- --embedder onnx --model <dir>`): a model folder
 * (model-dir.ts) behind the mechanisms chapter T3 measures, composed for a server:
 *
 *     embed(texts, { signal, priority })
 *       → InferenceQueue (lesson 12): interactive (a query) before bulk (an ingest batch), a bound per priority that
 *         refuses with 'OVERLOADED' (503 + Retry-After), the caller's deadline as an AbortSignal that takes a
 *         waiting request out of the queue ('DEADLINE_EXCEEDED', 504); bulk cut into runs of ≤ maxBatch.bulk.
 *         Dynamic batching (lesson 08): queries that arrive while a run is in progress wait, and the next run takes
 *         all of them (up to maxBatch.interactive) as one padded batch: on an idle model a query runs at once (no
 *         max-wait timer to pay), on a busy one the batch forms by itself.
 *       → ModelSlot (lesson 11): each run leases the current model once and is tagged with its version; `swap()`
 *         loads the folder again beside the serving model, warms it, switches one reference, and releases the old
 *         session after its last run. Zero failed requests.
 *       → the session in a worker thread (session-worker.ts, lesson 10): onnxruntime-node's run is synchronous on
 *         the calling thread, so in the server's thread each run would stall every other request; tokenising and
 *         pooling stay here, the run goes to the worker.
 *
 * Versions: a model's version is the first 12 hex digits of the SHA-256 of its model.onnx, so the same file is the
 * same version and another quantization of it is another. `embedVersioned` says which version computed each row: the
 * query-embedding cache in front (shared/serve/cache.ts) keys on it, so no answer mixes two models (lesson 09).
 *
 * A swap must keep the model's name and dimension (the index's vectors were made by it): a new quantization or
 * export of the same model. Another model needs another index (`npm run index -- --embedder onnx --model <new>`,
 * then a hot update, POST /v1/admin/reload).
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { RagError } from '../errors.ts';
import type { EmbedOptions, Embedder } from '../types.ts';
import { InferenceQueue, type InferenceQueueOptions, type InferenceQueueStats, type Priority } from './inference-queue.ts';
import { loadModelDir, type ModelDirEmbedder, type ModelDirOptions } from './model-dir.ts';
import { ModelSlot, type LoadedModel, type SwapReport } from './model-slot.ts';

export interface ServedModelOptions extends Pick<ModelDirOptions, 'intraOpNumThreads' | 'maxLength' | 'maxTokens' | 'name'> {
  /**
   * Run the model's session in a worker thread (default true): onnxruntime-node's run is synchronous on the calling
   * thread, so in the server's own thread every run would stall every other request (BM25 queries, health checks)
   * for its whole duration. False: in this thread (no worker start, no copy of rows between threads).
   */
  worker?: boolean;
  /** The admission queue's bounds, run sizes and backstop deadlines (defaults below, then InferenceQueue's). */
  queue?: Pick<InferenceQueueOptions<string, unknown>, 'maxQueued' | 'maxBatch' | 'timeoutMs' | 'retryAfterSeconds' | 'bulkEvery'>;
  /** Warm-up runs of a freshly loaded model before it serves (the first runs allocate and pick kernels). Default 3. */
  warmRuns?: number;
}

/** Queue defaults for serving: 32 queries per run (one padded batch), bulk runs of 16 passages, 2,048 waiting. */
export const SERVED_QUEUE_DEFAULTS = {
  maxQueued: { interactive: 256, bulk: 2048 },
  maxBatch: { interactive: 32, bulk: 16 },
};

const WARM_TEXTS = ['warm-up', 'a short query to warm the model', 'a longer passage of text, so that the first runs allocate the buffers a real batch needs'];

/** The version of a model file: the first 12 hex digits of its SHA-256. */
export function modelVersion(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex').slice(0, 12);
}

interface Row {
  row: Float32Array;
  version: string;
}

export class ServedModel implements Embedder {
  private constructor(
    readonly name: string,
    readonly dim: number,
    /** The model folder swaps load from by default. */
    readonly dir: string,
    private readonly slot: ModelSlot<ModelDirEmbedder>,
    private readonly queue: InferenceQueue<string, Row>,
    private readonly opts: ServedModelOptions,
  ) {}

  /** Loads `dir` (model.onnx + tokenizer.json), warms it, and starts serving it. */
  static async open(dir: string, opts: ServedModelOptions = {}): Promise<ServedModel> {
    const warmRuns = opts.warmRuns ?? 3;
    const slot = await ModelSlot.create(() => load(dir, opts), { warm: (m) => m.embed(WARM_TEXTS), warmRuns });
    const first = slot.acquire();
    const { name, dim } = first.model;
    first.done();
    const queue = new InferenceQueue<string, Row>({
      ...SERVED_QUEUE_DEFAULTS,
      ...opts.queue,
      run: async (texts) => {
        const { version, value } = await slot.use((m) => m.embed(texts));
        return value.map((row) => ({ row, version }));
      },
    });
    return new ServedModel(name, dim, dir, slot, queue, opts);
  }

  /** The version new requests are served by. */
  get version(): string {
    return this.slot.version;
  }

  async embed(texts: string[], opts: EmbedOptions = {}): Promise<Float32Array[]> {
    return (await this.embedVersioned(texts, opts)).map((r) => r.row);
  }

  /**
   * Rows with the version of the model that computed each. One text (a query) is interactive unless `priority`
   * says otherwise; more (an ingest batch) is bulk, submitted in parts no larger than the bulk queue's bound.
   */
  async embedVersioned(texts: string[], opts: EmbedOptions = {}): Promise<Row[]> {
    if (texts.length === 0) return [];
    const priority: Priority = opts.priority ?? (texts.length === 1 ? 'interactive' : 'bulk');
    const bound = { ...SERVED_QUEUE_DEFAULTS.maxQueued, ...this.opts.queue?.maxQueued }[priority];
    if (texts.length <= bound) return this.queue.submit(texts, { priority, signal: opts.signal });
    const out: Row[] = [];
    for (let i = 0; i < texts.length; i += bound) out.push(...(await this.queue.submit(texts.slice(i, i + bound), { priority, signal: opts.signal })));
    return out;
  }

  /**
   * Hot-swap: loads `dir` (default: the folder it serves, e.g. after writing a new quantization there) beside the
   * serving model, warms it, and switches to it; the old session is released after its last run. The new model
   * keeps the served one's name: the caller says it is the same model (a new quantization or export of it), whose
   * vectors the index can compare with. Refused (RagError INVALID_INPUT, nothing changed) when its dimension differs
   * or it is the very file serving now.
   */
  async swap(dir: string = this.dir): Promise<SwapReport> {
    return this.slot.swap(async () => {
      const loaded = await load(dir, { ...this.opts, name: this.name });
      if (loaded.model.dim !== this.dim) {
        await loaded.release();
        throw new RagError(
          'INVALID_INPUT',
          `${dir} holds a ${loaded.model.dim}-d model; ${this.name} and its index are ${this.dim}-d: a swap keeps the model (a new quantization ` +
            'or export of it); another model needs a new index (npm run index) and a hot update (POST /v1/admin/reload)',
        );
      }
      return loaded;
    });
  }

  stats(): { version: string; queue: InferenceQueueStats; swaps: number; failedSwaps: number } {
    return { version: this.slot.version, queue: this.queue.stats(), swaps: this.slot.stats.swaps, failedSwaps: this.slot.stats.failedSwaps };
  }

  /** Refuses new work, finishes what is queued, and releases the model. */
  async close(): Promise<void> {
    await this.queue.close({ drain: true });
    await this.slot.close();
  }
}

async function load(dir: string, opts: ServedModelOptions): Promise<LoadedModel<ModelDirEmbedder>> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(join(dir, 'model.onnx'));
  } catch (err) {
    throw new RagError('NOT_FOUND', `cannot read ${join(dir, 'model.onnx')} (a model folder holds model.onnx and tokenizer.json): ${(err as Error).message}`);
  }
  const model = await loadModelDir(dir, {
    intraOpNumThreads: opts.intraOpNumThreads ?? 1,
    maxLength: opts.maxLength,
    maxTokens: opts.maxTokens,
    name: opts.name,
    bytes,
    worker: opts.worker ?? true,
  });
  return { model, version: modelVersion(bytes), release: () => model.release() };
}
