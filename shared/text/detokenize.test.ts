import { describe, expect, it } from 'vitest';
import { detokenize } from './detokenize.ts';

describe('detokenize', () => {
  it('attaches punctuation and quotes to their words', () => {
    expect(detokenize(['``', 'Only', 'a', 'few', "''", ',', 'the', 'jury', 'said', '(', 'twice', ')', '.'])).toBe(
      '"Only a few", the jury said (twice).',
    );
  });
  it('alternates plain double quotes between opening and closing', () => {
    expect(detokenize(['He', 'said', '"', 'go', '"', 'and', 'left', '.'])).toBe('He said "go" and left.');
  });
});
