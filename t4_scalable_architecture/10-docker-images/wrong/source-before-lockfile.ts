/**
 * Wrong: copies the source into the dependency stage before `npm ci` ("the build needs it anyway"). Every
 * one-line change under shared/ now invalidates the install layer: a minute of downloads and 1.2 GB of layer per edit.
 * @rejected-with a one-line change in shared/engine.ts re-runs npm
 */
import * as after from '../after.ts';
import type { ImageSpec } from '../spec.ts';

export { SPEC, type ImageSpec } from '../spec.ts';

export function dockerfile(spec: ImageSpec): string {
  const lock = `COPY ${spec.lockfiles.join(' ')} ./`;
  return after.dockerfile(spec).replace(lock, `${lock}\nCOPY tsconfig.json ./\nCOPY shared/ shared/`);
}
