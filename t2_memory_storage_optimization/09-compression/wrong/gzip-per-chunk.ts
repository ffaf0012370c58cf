/**
 * Wrong (on purpose): every chunk gzipped on its own, the compressed chunks packed back to back into one buffer (so no
 * per-chunk buffer overhead is kept). Reads are cheap, but a ~1 KB chunk gives the compressor almost no context: the
 * compressed chunks keep more than half of the bytes.
 *
 * What differs from after.ts: packTexts (variants.ts's gzip member per text instead of brotli blocks); the vectors
 * are after.ts's.
 *
 * @rejected-with of their UTF-8 bytes
 */
import { packGzipEach } from '../variants.ts';
import type { TextStore } from '../after.ts';

export { buildIndex, type FullRows, type ScoredLabel, type TextStore, type VectorStore } from '../after.ts';

export function packTexts(texts: string[]): TextStore {
  return packGzipEach(texts);
}
