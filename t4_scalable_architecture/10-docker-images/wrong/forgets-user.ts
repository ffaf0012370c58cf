/**
 * Wrong: everything right but the USER line, forgotten (the image worked in every test, as root). A process that
 * can write its own code and, with a kernel or runtime bug, more than its container.
 * @rejected-with the runtime runs as root
 */
import * as after from '../after.ts';
import type { ImageSpec } from '../spec.ts';

export { SPEC, type ImageSpec } from '../spec.ts';

export function dockerfile(spec: ImageSpec): string {
  return after.dockerfile(spec).replace(`USER ${spec.user}\n`, '');
}
