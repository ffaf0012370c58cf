import { describe, expect, it } from 'vitest';
import { isRagError, RagError } from './errors.ts';

describe('RagError', () => {
  it('carries a code and a message and is an Error', () => {
    const e = new RagError('NOT_FOUND', 'no such file: x');
    expect(e).toBeInstanceOf(Error);
    expect(e.code).toBe('NOT_FOUND');
    expect(e.message).toBe('no such file: x');
    expect(e.name).toBe('RagError');
    expect(isRagError(e)).toBe(true);
    expect(isRagError(e, 'CORRUPT')).toBe(false);
    expect(isRagError(new Error('x'))).toBe(false);
  });
});
