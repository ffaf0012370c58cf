/**
 * Wrong (on purpose): the request takes the model from the slot for the run, and the version from the slot again
 * for the answer. Each read is correct on its own; a swap between them tags an answer computed by the old model with
 * the new version, and whatever keys on that tag (a cache, a client comparing vectors with an index built by one
 * model) mixes two vector spaces.
 *
 * What differs from after.ts: `embed` reads the slot twice (`slot.use` for the model, `slot.version` for the tag).
 *
 * @rejected-with read the slot twice
 */
import { ModelSlot } from '../../../shared/model/model-slot.ts';
import type { Answer, EmbedModel, ModelLoader, ModelServer, ServerOptions } from '../after.ts';

export type { Answer, EmbedModel, LoadedModel, ModelLoader, ModelServer, ServerOptions } from '../after.ts';

export async function createModelServer(load: ModelLoader<EmbedModel>, opts: ServerOptions = {}): Promise<ModelServer> {
  const slot = await ModelSlot.create(load, { ...(opts.warm ? { warm: opts.warm } : {}), warmRuns: opts.warmRuns ?? 3 });
  const cache = opts.cache;
  return {
    async embed(texts): Promise<Answer> {
      const { value } = await slot.use((model, v) => (cache ? cache.embed({ version: v, embed: (t) => model.embed(t) }, texts) : model.embed(texts)));
      return { version: slot.version, vectors: value }; // a second read: the slot may hold another model by now
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
