/**
 * 11-hot-swap, before: stop, release, load, serve. The swap the way it is first written: free the old session (it
 * is big, and two of them might not fit), load the new one, and serve again.
 *
 * Between the release and the end of the load there is no model: every request that arrives then fails (a server
 * returns 503). Requests that were running on the old session when it was released fail too (an onnxruntime session
 * released under a run is undefined behaviour; here the session says "released"). And the first requests on the new
 * session pay for its cold start: nothing warmed it.
 */
import { RagError } from '../../shared/errors.ts';
import type { Answer, EmbedModel, LoadedModel, ModelLoader, ModelServer, ServerOptions } from './after.ts';

export type { Answer, EmbedModel, LoadedModel, ModelLoader, ModelServer, ServerOptions } from './after.ts';

export async function createModelServer(load: ModelLoader<EmbedModel>, _opts: ServerOptions = {}): Promise<ModelServer> {
  let current: LoadedModel<EmbedModel> | undefined = await load();
  return {
    async embed(texts): Promise<Answer> {
      const m = current;
      if (!m) throw new RagError('UNAVAILABLE', 'no model loaded (a swap is in progress)');
      return { version: m.version, vectors: await m.model.embed(texts) };
    },
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
