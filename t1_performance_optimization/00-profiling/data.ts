/** The lesson's workload: Brown corpus chunks (the engine's default corpus and chunker) and a fixed set of queries. */
import { loadBrown } from '../../shared/corpus/brown.ts';
import { chunkDocument } from '../../shared/corpus/chunk.ts';
import type { Chunk } from '../../shared/types.ts';

/** Chunking the engine uses by default: 200 words, 40 words of overlap. */
export const CHUNKING = { maxTokens: 200, overlapTokens: 40 } as const;

/** The first `docs` Brown documents (of 500), cut into chunks. */
export async function brownChunks(docs: number): Promise<Chunk[]> {
  const loaded = await loadBrown({ limit: docs });
  return loaded.flatMap((d) => chunkDocument(d, CHUNKING));
}

/** Questions a reader of the Brown corpus (news, religion, hobbies, science, fiction, 1961) might ask. */
export const QUERIES: readonly string[] = [
  'grand jury investigation of the election',
  'baseball pitcher and the home run',
  'nuclear weapons test ban treaty',
  'church faith and the meaning of prayer',
  'tax increase for public schools',
  'how to build a boat in your garage',
  'symphony orchestra concert and the conductor',
  'soviet union and berlin crisis',
  'the cost of medical care for the aged',
  'farmers and the price of wheat',
  'a detective found the body',
  'the theory of the electron and its energy',
  'kennedy administration foreign policy',
  'the art of cooking with wine',
  'a young woman fell in love',
  'rhode island state budget',
];
