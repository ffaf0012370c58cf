/**
 * Wrong: drops the `vectors` stage ("the embedder builds its cache on first start anyway"). With `--read-only` that
 * first start fails writing 139 MB into /app/.cache; without it every new container spends seconds and GBs of heap
 * parsing the 294 MB JSON, and the runtime needs the wink package after all.
 * @rejected-with not read-only-safe
 */
import * as after from '../after.ts';
import type { ImageSpec } from '../spec.ts';

export { SPEC, type ImageSpec } from '../spec.ts';

export function dockerfile(spec: ImageSpec): string {
  return after
    .dockerfile(spec)
    .replace(/FROM deps AS vectors\n[\s\S]*?\n\n/, '')
    .replace('COPY --from=vectors /out/.cache /app/.cache\n', '');
}
