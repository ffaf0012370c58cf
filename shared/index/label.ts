import { RagError } from '../errors.ts';

/** Index labels are integers in [0, 2^31 - 1] (they fit an Int32Array and hnswlib's label type). */
export const MAX_LABEL = 0x7fffffff;

/** Throws RagError 'INVALID_INPUT' unless `label` is a valid index label. */
export function checkLabel(label: number, where: string): void {
  if (!Number.isInteger(label) || label < 0 || label > MAX_LABEL) {
    throw new RagError('INVALID_INPUT', `${where}: label must be an integer in [0, 2^31 - 1], got ${label}`);
  }
}
