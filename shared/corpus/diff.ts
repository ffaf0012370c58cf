/**
 * What changed between the corpus an index holds and a new version of it, found by content, so an update re-chunks
 * only the documents that changed and re-embeds only the chunks whose embedded text changed.
 *
 * Two levels (t2_memory_storage_optimization/05-incremental-indexing teaches both):
 *
 * 1. **Documents**: `docFingerprint` hashes everything a document contributes to an index (id, title, text,
 *    metadata). `diffDocuments(previous, docs)` compares the new version's fingerprints with the ones stored at the
 *    last update: a document whose fingerprint is unchanged needs no work at all, not even chunking.
 *
 *        const diff = diffDocuments(stored, docs);        // stored: Map<docId, fingerprint> from the last update
 *        for (const id of diff.removed) dropDocument(id);
 *        for (const doc of [...diff.changed, ...diff.added]) reindex(doc);
 *        stored = diff.fingerprints;
 *
 * 2. **Chunks** of a changed document: `diffChunks(old, next)` pairs each new chunk with an old chunk of the same
 *    document that is indexed under the same text (`indexText`: title, then chunk text). Such a pair keeps its
 *    embedding and its postings; only the chunks without one (`added`) are analysed and embedded again.
 *
 * Why not the chunk id alone? `chunkId` hashes the document id, the position and the chunk text, but not the title
 * or the metadata: a document retitled or relabelled keeps every chunk id, while what the chunks are embedded and
 * searched under (the title) or filtered and returned with (the metadata) changed. And the id includes the
 * position, so a chunk that only moved (a paragraph inserted above it) gets a new id although its embedding is the
 * same. So documents are compared by a fingerprint of all their fields, and chunks by the text they are indexed under.
 */
import { createHash } from 'node:crypto';
import type { Chunk, Doc, Metadata } from '../types.ts';
import { indexText } from './chunk.ts';

/**
 * Content hash (SHA-256, 32 hex characters) of everything a document contributes to an index: id, title, text and
 * metadata (keys in sorted order, so `{a, b}` and `{b, a}` are the same document). Each field is length-prefixed, so
 * no two different documents can be made to hash the same input by moving text between fields.
 */
export function docFingerprint(doc: Doc): string {
  const h = createHash('sha256');
  const field = (s: string) => h.update(`${s.length}:`).update(s);
  field(doc.id);
  if (doc.title === undefined) h.update('-');
  else field(doc.title);
  field(doc.text);
  field(canonicalMetadata(doc.metadata));
  return h.digest('hex').slice(0, 32);
}

function canonicalMetadata(m: Metadata | undefined): string {
  if (m === undefined) return '';
  const keys = Object.keys(m).sort();
  return JSON.stringify(keys.map((k) => [k, m[k]]));
}

export interface DocDiff {
  /** Documents whose id the previous version did not have, in the order given. */
  added: Doc[];
  /** Documents whose fingerprint differs from the previous version's, in the order given. */
  changed: Doc[];
  /** Ids the previous version had and the new one lacks. */
  removed: string[];
  /** Documents whose fingerprint is the previous version's: nothing to do. */
  unchanged: number;
  /** The fingerprint of every document of the new version: store it for the next diff. */
  fingerprints: Map<string, string>;
}

/**
 * Compares `docs` (the whole new version of a corpus) with the fingerprints stored at the last update. A repeated id
 * counts once, with its last version (as `Engine.ingest` does), at the place of its first appearance.
 */
export function diffDocuments(previous: ReadonlyMap<string, string>, docs: Iterable<Doc>): DocDiff {
  const latest = new Map<string, Doc>();
  for (const doc of docs) latest.set(doc.id, doc);
  const added: Doc[] = [];
  const changed: Doc[] = [];
  const fingerprints = new Map<string, string>();
  let unchanged = 0;
  for (const [id, doc] of latest) {
    const fp = docFingerprint(doc);
    fingerprints.set(id, fp);
    const before = previous.get(id);
    if (before === undefined) added.push(doc);
    else if (before !== fp) changed.push(doc);
    else unchanged++;
  }
  const removed: string[] = [];
  for (const id of previous.keys()) if (!latest.has(id)) removed.push(id);
  return { added, changed, removed, unchanged, fingerprints };
}

/** A new chunk paired with an old chunk of the same document indexed under the same text. */
export interface ChunkPair {
  /** Position in the `old` array. */
  old: number;
  /** Position in the `next` array. */
  next: number;
}

export interface ChunkDiff {
  /** Identical chunks (same id, title and metadata): nothing to do. */
  same: ChunkPair[];
  /**
   * Same indexed text, something else differs (the position, the metadata): the embedding and the postings are
   * still right; only the stored chunk is replaced.
   */
  moved: ChunkPair[];
  /** New chunks no old one matches: these, and only these, are analysed and embedded. Positions in `next`. */
  added: number[];
  /** Old chunks no new one matches: removed from the index. Positions in `old`. */
  dropped: number[];
}

/** True when two chunks are stored identically (the chunk id covers document, position and text). */
function sameChunk(a: Chunk, b: Chunk): boolean {
  return a.id === b.id && a.title === b.title && a.tokens === b.tokens && canonicalMetadata(a.metadata) === canonicalMetadata(b.metadata);
}

/**
 * Pairs the chunks of a document's new version (`next`) with those of the version indexed now (`old`) by the text they
 * are indexed under (`indexText`), one to one: an identical old chunk is preferred, then the first unpaired one with
 * that text. Everything in `next` ends up in exactly one of `same`, `moved` or `added`; everything in `old` in exactly
 * one of `same`, `moved` or `dropped`.
 */
export function diffChunks(old: readonly Chunk[], next: readonly Chunk[]): ChunkDiff {
  const byText = new Map<string, number[]>();
  old.forEach((c, i) => {
    const key = indexText(c);
    const list = byText.get(key);
    if (list) list.push(i);
    else byText.set(key, [i]);
  });
  const paired = new Uint8Array(old.length);
  const same: ChunkPair[] = [];
  const moved: ChunkPair[] = [];
  const added: number[] = [];
  next.forEach((c, n) => {
    const candidates = byText.get(indexText(c));
    if (candidates === undefined || candidates.length === 0) {
      added.push(n);
      return;
    }
    let at = candidates.findIndex((o) => sameChunk(old[o], c));
    const identical = at >= 0;
    if (!identical) at = 0;
    const o = candidates[at];
    candidates.splice(at, 1);
    paired[o] = 1;
    (identical ? same : moved).push({ old: o, next: n });
  });
  const dropped: number[] = [];
  for (let o = 0; o < old.length; o++) if (paired[o] === 0) dropped.push(o);
  return { same, moved, added, dropped };
}
