/**
 * 11-hot-swap, after: the model lives in a slot (`ModelSlot`, shared/model/model-slot.ts). A swap loads the new
 * model beside the old one, warms it, then replaces one reference; every request takes one lease at its start and
 * finishes on the model it started with; the old session is released when its last request ends.
 *
 * Why no request fails: at every moment the slot holds a model that is loaded and warm. Requests that start during
 * the load and the warm-up are served by the old model (it is still there); requests that start after the
 * replacement get the new one; requests that were running on the old one keep it, because the slot counts the leases
 * on each model and calls `release()` only when that count reaches zero after the model is retired.
 *
 * Why no answer mixes models: the request reads the slot once (`slot.use`), and the model and the version it
 * returns go together: the answer is tagged with the version that computed it, and a cache (lesson 09's) keys on
 * that same version, so a vector cached for the old model is never served for the new one.
 *
 * Why p99 does not jump at the swap: the first runs of a fresh onnxruntime session are slow (arena allocation,
 * kernel selection); the warm-up runs pay for them before any request can reach the model.
 */
import { ModelSlot, type ModelLoader } from '../../shared/model/model-slot.ts';
import type { EmbedCacheLike } from '../09-inference-cache/after.ts';

export type { LoadedModel, ModelLoader } from '../../shared/model/model-slot.ts';

/** The model a server holds: batch-first embedding (an OnnxEmbedder, a session behind a tokenizer...). */
export interface EmbedModel {
  embed(texts: string[]): Promise<Float32Array[]>;
}

/** An answer and the version of the model that computed it. */
export interface Answer {
  version: string;
  vectors: Float32Array[];
}

export interface ServerOptions {
  /** One warm-up run on a freshly loaded model. Default: none. */
  warm?: (model: EmbedModel) => Promise<unknown>;
  /** Warm-up runs before a model serves. Default 3. */
  warmRuns?: number;
  /** An embedding cache (lesson 09) keyed by model version. Default: none. */
  cache?: EmbedCacheLike;
}

export interface ModelServer {
  /** Embeds `texts` with the model serving when the request starts; the answer names that model's version. */
  embed(texts: string[]): Promise<Answer>;
  /** Replaces the model with the one `load` returns; resolves once the new model serves (rejects if it cannot). */
  swap(load: ModelLoader<EmbedModel>): Promise<void>;
  /** The version serving now. */
  readonly version: string;
  /** Stops serving and releases the model (after its in-flight requests). */
  close(): Promise<void>;
}

export async function createModelServer(load: ModelLoader<EmbedModel>, opts: ServerOptions = {}): Promise<ModelServer> {
  const slot = await ModelSlot.create(load, { ...(opts.warm ? { warm: opts.warm } : {}), warmRuns: opts.warmRuns ?? 3 });
  const cache = opts.cache;
  return {
    async embed(texts) {
      // one lease: this model and this version, together, until the answer is complete
      const { version, value } = await slot.use((model, v) => (cache ? cache.embed({ version: v, embed: (t) => model.embed(t) }, texts) : model.embed(texts)));
      return { version, vectors: value };
    },
    async swap(next) {
      await slot.swap(next);
    },
    get version() {
      return slot.version;
    },
    close: () => slot.close(),
  };
}
