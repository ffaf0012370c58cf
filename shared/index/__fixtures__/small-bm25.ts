import { mulberry32 } from '../../util/random.ts';
import { Bm25Index } from '../bm25.ts';

/**
 * The small index saved as `small-bm25.bin` (format version 1, written by `Bm25Index.serialize()` before the format
 * moved to bm25-format.ts). It covers what the layout has to get right: a label space of several bitmap words with
 * gaps (removed and never-used labels), an odd number of postings (the Uint16 tf block is padded to 4 bytes), a
 * header whose length is not a multiple of 4, non-default parameters, a list out of label order, and a term with
 * a non-ASCII spelling.
 */
export function buildSmallBm25(): Bm25Index {
  const rand = mulberry32(2024);
  const word = () => `w${Math.floor(40 * rand() ** 2)}`;
  const index = new Bm25Index({ k1: 1.1, b: 0.6, compactRatio: 1 });
  for (let label = 0; label < 90; label++) {
    if (label % 11 === 4) continue; // never used
    index.add(label, Array.from({ length: 3 + Math.floor(rand() * 9) }, word));
  }
  for (let label = 0; label < 90; label += 7) index.remove(label);
  index.add(3, ['café', 'w0', 'w0', 'w1']); // re-added below the lists' last labels
  index.add(100, ['café', 'zebra', 'yak']);
  return index;
}

/** Queries whose results the fixture must reproduce. */
export const smallBm25Queries: string[][] = [['w0'], ['w1', 'w2'], ['café'], ['w3', 'w0', 'w7'], ['zebra', 'w5'], ['w39']];
