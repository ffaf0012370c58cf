/**
 * Wrong (on purpose): all texts compressed as one brotli stream: the best ratio there is, and every read pays for it,
 * because a compressed stream can only be decoded from its start: the first read of any text decompresses the whole
 * corpus (and keeps it, decompressed, in memory).
 *
 * What differs from after.ts: packTexts (one block for everything instead of blocks of 32 KiB); the vectors are
 * after.ts's.
 *
 * @rejected-with bytes to read one text
 */
import { TextBlocks } from '../../../shared/store/blocks.ts';
import type { TextStore } from '../after.ts';

export { buildIndex, type FullRows, type ScoredLabel, type TextStore, type VectorStore } from '../after.ts';

export function packTexts(texts: string[]): TextStore {
  return new TextBlocks(texts, { blockBytes: Number.MAX_SAFE_INTEGER });
}
