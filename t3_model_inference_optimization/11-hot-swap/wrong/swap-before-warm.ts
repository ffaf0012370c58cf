/**
 * Wrong (on purpose): load the new model, make it current, then warm it ("the warm-up can run while it serves").
 * The requests that arrive meanwhile are its cold runs: the first runs of a fresh session allocate its arena and
 * choose kernels, several times slower than the rest, which is exactly the p99 spike the warm-up was for.
 *
 * What differs from after.ts: the reference is replaced before the warm-up runs, not after.
 *
 * @rejected-with not finished its warm-up
 */
import type { Answer, EmbedModel, ModelLoader, ModelServer, ServerOptions } from '../after.ts';
import { ModelSlot } from '../../../shared/model/model-slot.ts';

export type { Answer, EmbedModel, LoadedModel, ModelLoader, ModelServer, ServerOptions } from '../after.ts';

export async function createModelServer(load: ModelLoader<EmbedModel>, opts: ServerOptions = {}): Promise<ModelServer> {
  const warm = async (m: EmbedModel) => {
    for (let i = 0; i < (opts.warmRuns ?? 3); i++) await opts.warm?.(m);
  };
  const slot = await ModelSlot.create(load); // no warm-up inside the slot: it is done by hand below
  await slot.use(warm);
  return {
    async embed(texts): Promise<Answer> {
      const cache = opts.cache;
      const { version, value } = await slot.use((model, v) => (cache ? cache.embed({ version: v, embed: (t) => model.embed(t) }, texts) : model.embed(texts)));
      return { version, vectors: value };
    },
    async swap(nextLoad) {
      let loaded: EmbedModel | undefined;
      await slot.swap(async () => {
        const l = await nextLoad();
        loaded = l.model;
        return l;
      });
      await warm(loaded!); // too late: the model has been serving since the line above
    },
    get version() {
      return slot.version;
    },
    close: () => slot.close(),
  };
}
