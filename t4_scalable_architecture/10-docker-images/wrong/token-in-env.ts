/**
 * Wrong: gives the services their credential in the image ("so compose needs no env"). Every layer is readable by
 * whoever can pull the image: `docker history --no-trunc` and `docker inspect` print it.
 * @rejected-with bakes a secret into the image
 */
import * as after from '../after.ts';
import type { ImageSpec } from '../spec.ts';

export { SPEC, type ImageSpec } from '../spec.ts';

export function dockerfile(spec: ImageSpec): string {
  return after.dockerfile(spec).replace('RAG_INDEX=/data/index\n', 'RAG_INDEX=/data/index RAG_INTERNAL_TOKEN=4f9c0d7e1b2a\n');
}
