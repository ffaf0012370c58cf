/**
 * Wrong (on purpose): load and warm beside the old model, swap the reference, and release the old session right
 * away ("nobody can reach it any more"). Requests that started on it before the swap are still running on it: their
 * run fails (or, with a native session freed under a run, worse).
 *
 * What differs from after.ts: the old model's `release()` runs at the swap, not after its last in-flight request.
 *
 * @rejected-with released while
 */
import type { Answer, EmbedModel, LoadedModel, ModelLoader, ModelServer, ServerOptions } from '../after.ts';

export type { Answer, EmbedModel, LoadedModel, ModelLoader, ModelServer, ServerOptions } from '../after.ts';

export async function createModelServer(load: ModelLoader<EmbedModel>, opts: ServerOptions = {}): Promise<ModelServer> {
  const warm = async (m: LoadedModel<EmbedModel>) => {
    for (let i = 0; i < (opts.warmRuns ?? 3); i++) await opts.warm?.(m.model);
  };
  let current = await load();
  await warm(current);
  let swapping: Promise<unknown> = Promise.resolve();
  return {
    async embed(texts): Promise<Answer> {
      const m = current; // read once: this part is right
      const run = (t: string[]) => m.model.embed(t);
      return { version: m.version, vectors: await (opts.cache ? opts.cache.embed({ version: m.version, embed: run }, texts) : run(texts)) };
    },
    swap(nextLoad) {
      const run = swapping.then(async () => {
        const next = await nextLoad();
        try {
          await warm(next);
        } catch (err) {
          await next.release();
          throw err;
        }
        const old = current;
        current = next;
        await old.release(); // too early: requests that started on it are still running
      });
      swapping = run.catch(() => {});
      return run;
    },
    get version() {
      return current.version;
    },
    close: async () => current.release(),
  };
}
