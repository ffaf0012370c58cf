/**
 * EXERCISE 11-hot-swap — replace the serving model under load without failing a request.
 *
 * As shipped it swaps the way it is first written: release the old session, load the new one, serve again. Requests
 * that arrive during the load fail, requests running on the old session fail when it is released, and the first
 * requests on the new session are its cold runs. The checkpoint rejects it.
 *
 * Write the mechanism yourself, here (shared/model/model-slot.ts is the engine's version of it: read it afterwards;
 * the type imports below are only its loader types).
 * `createModelServer(load, { warm, warmRuns, cache })` returns a server whose
 *   - `embed(texts)` answers `{ version, vectors }`: the vectors computed by the model serving when the request
 *     started, tagged with that model's version (with `cache`, lesson 09's cache keyed by that same version);
 *   - `swap(load)` resolves once the new model serves, or rejects (the old one still serving) when the load or the
 *     warm-up fails.
 *
 * What must hold (checked by `npm run checkpoint -- 11-hot-swap`, with requests and warm-ups held mid-run by gates):
 *   - no request fails across 4 swaps (fp32 ↔ int8) under steady concurrent load;
 *   - every answer is tagged with the version whose model computed its vector;
 *   - a replaced model's `release()` is called exactly once, and only after its last in-flight request ended;
 *   - no request is served by a model before `warm` has run `warmRuns` times on it;
 *   - a failing warm-up leaves the old version serving, swap() rejects, and the failed model is released;
 *   - concurrent swaps run one at a time, in call order.
 *
 * Then measure failed requests and p99 during the swaps beside before and after:
 *   npm run t3 -- --only 11-hot-swap --impl exercise --quick
 * Stuck? npm run hint -- 11-hot-swap
 */
import type { LoadedModel, ModelLoader } from '../../shared/model/model-slot.ts';
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
  let current: LoadedModel<EmbedModel> | undefined = await load();
  const cache = opts.cache;
  return {
    async embed(texts): Promise<Answer> {
      const m = current;
      if (!m) throw new Error('no model loaded (a swap is in progress)');
      const run = (t: string[]) => m.model.embed(t);
      return { version: m.version, vectors: await (cache ? cache.embed({ version: m.version, embed: run }, texts) : run(texts)) };
    },
    // TODO: the swap. When may the old model be released, when may the new one serve, and what do requests that
    // are running (or arriving) in the meantime get?
    async swap(next) {
      const old = current;
      current = undefined;
      await old?.release();
      current = await next();
    },
    get version() {
      return current?.version ?? '(none)';
    },
    async close() {
      await current?.release();
      current = undefined;
    },
  };
}
