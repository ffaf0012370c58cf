/**
 * Wrong: the runtime takes node_modules from the dependency stage ("it is already installed there"). That folder is
 * what `npm ci` made of the whole lockfile: tsx, vitest, typescript, LangChain, Orama, Express, clinic... all shipped.
 * @rejected-with devDependencies in the runtime image
 */
import * as after from '../after.ts';
import type { ImageSpec } from '../spec.ts';

export { SPEC, type ImageSpec } from '../spec.ts';

export function dockerfile(spec: ImageSpec): string {
  return after.dockerfile(spec).replace('COPY --from=build /out/node_modules /app/node_modules', 'COPY --from=deps /src/node_modules /app/node_modules');
}
