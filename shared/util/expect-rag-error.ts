/** A test helper: `fn` throws a RagError with `code` (default INVALID_INPUT) whose message matches `message`. */
import { expect } from 'vitest';
import { isRagError } from '../errors.ts';

export function expectRagError(fn: () => unknown, message: RegExp, code = 'INVALID_INPUT'): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(isRagError(err, code), String(err)).toBe(true);
  expect((err as Error).message).toMatch(message);
}
