/**
 * Plumbing every implementation of 07-versions shares, none of it about how the history is kept: checking arguments,
 * reading a write's documents, embedding chunks, running a dense search and turning labels into hits.
 */
import { indexText, validateDoc } from '../../shared/corpus/chunk.ts';
import { isZeroVector } from '../../shared/embed/sif.ts';
import { RagError } from '../../shared/errors.ts';
import type { Chunk, Doc, Embedder, ScoredLabel } from '../../shared/types.ts';
import type { AsOfHit, AsOfQuery, WriteOp } from './types.ts';

/** A version that exists: an integer from 0 to `latest`. */
export function checkVersion(version: number, latest: number, what: string): number {
  if (!Number.isInteger(version) || version < 0 || version > latest) {
    throw new RagError('INVALID_INPUT', `${what}: there is no version ${version} (versions are 0 … ${latest})`);
  }
  return version;
}

/** The query's text, version and k, checked; `asOf` defaults to `latest`, k to 10. */
export function checkQuery(text: string, opts: AsOfQuery, latest: number): { asOf: number; k: number } {
  if (typeof text !== 'string' || text.trim().length === 0) throw new RagError('INVALID_INPUT', 'query must be a non-empty string');
  const k = opts.k ?? 10;
  if (!Number.isInteger(k) || k < 1 || k > 1000) throw new RagError('INVALID_INPUT', `k must be an integer from 1 to 1000, got ${k}`);
  return { asOf: checkVersion(opts.asOf ?? latest, latest, 'query as of'), k };
}

/** The documents of an ingest, checked, by id (the last of a batch wins, as in the engine). */
export function docsOf(op: Extract<WriteOp, { kind: 'ingest' }>): Map<string, Doc> {
  if (!Array.isArray(op.docs)) throw new RagError('INVALID_INPUT', 'ingest expects an array of documents');
  const byId = new Map<string, Doc>();
  op.docs.forEach((raw, i) => {
    const doc = validateDoc(raw, i);
    byId.set(doc.id, doc);
  });
  return byId;
}

/** The ids of a delete, checked. */
export function idsOf(op: Extract<WriteOp, { kind: 'delete' }>): string[] {
  if (!Array.isArray(op.ids) || op.ids.some((id) => typeof id !== 'string' || id.length === 0)) {
    throw new RagError('INVALID_INPUT', 'delete expects an array of non-empty document ids');
  }
  return op.ids;
}

/** One vector per chunk, embedded as the engine embeds it (title, then text). */
export async function embedChunks(embedder: Embedder, chunks: readonly Chunk[]): Promise<Float32Array[]> {
  return chunks.length === 0 ? [] : embedder.embed(chunks.map(indexText));
}

/** The query's vector, or undefined when it has no known word (the engine returns no dense hit then). */
export async function queryVector(embedder: Embedder, text: string): Promise<Float32Array | undefined> {
  const [v] = await embedder.embed([text]);
  return isZeroVector(v) ? undefined : v;
}

/** An index's scored labels as hits, through the chunk each label holds. */
export function toHits(found: readonly ScoredLabel[], chunkOf: (label: number) => Chunk | undefined): AsOfHit[] {
  return found.map(({ label, score }) => {
    const c = chunkOf(label);
    if (!c) throw new RagError('CORRUPT', `the index returned label ${label}, which holds no chunk`);
    return { chunkId: c.id, docId: c.docId, position: c.position, text: c.text, score };
  });
}
