import { describe } from 'vitest';
import { hnswSuite } from './hnsw-suite.ts';
import { HnswIndex } from './hnsw.ts';

describe('HnswIndex', () => {
  // The behaviour shared with CompactHnswIndex (hnsw-suite.ts); hnswlib's float32 vectors score exact cosines.
  hnswSuite({
    Index: HnswIndex,
    gloveWords: 21_000,
    gloveTimeout: 180_000,
    cosineTolerance: 5e-5,
    selfScoreDigits: 5,
    tmpPrefix: 'hnsw-test-',
  });
});
