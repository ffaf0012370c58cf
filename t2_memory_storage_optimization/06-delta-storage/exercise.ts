/**
 * EXERCISE 06-delta-storage — store a document's history without storing the document again at every version.
 *
 * As shipped it keeps every version whole: correct, one record per read, and every edit — even of one word — costs
 * another full copy of a 12 kB document. The checkpoint accepts the texts it gives back and rejects the bytes.
 *
 * What must hold (checked by `npm run checkpoint -- 06-delta-storage`):
 *
 *   - every version of every document comes back exactly as it was appended, byte for byte (whitespace, blank lines
 *     between paragraphs, non-ASCII characters included); `append` returns 0, 1, 2, … per document; `versions`
 *     counts them; `get` of a version that was never appended throws;
 *   - everything the store keeps besides a little per document goes through `opts.backend` (`put` and `get` by a key
 *     of your choice). The checkpoint gives you a counting backend and a history of 6 Brown documents × 64 versions
 *     made by the seeded edit model (shared/versions/edits.ts), with checkpointEvery = 16, and counts:
 *       · the bytes put: at most 8% of what the full copies of every version take;
 *       · the records read to rebuild any one version: at most checkpointEvery;
 *       · the bytes the store holds in its own memory (its properties and what they reach, counted by walking them:
 *         keep your state in the object, where it can be seen): about one version of each document at most.
 *
 * How to measure it: npm run t2 -- --only 06-delta-storage --impl exercise --quick (an "exercise" row: bytes stored
 * per version, the headline, and the time to rebuild a version).
 * Stuck? npm run hint -- 06-delta-storage
 */
import type { RecordBackend, StoreOptions, VersionStore } from './types.ts';

export type { RecordBackend, StoreOptions, VersionStore } from './types.ts';

export const CHECKPOINT_EVERY = 16;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

class VersionHistory implements VersionStore {
  private readonly backend: RecordBackend;
  private readonly k: number;
  private readonly counts = new Map<string, number>();

  constructor(opts: StoreOptions) {
    this.backend = opts.backend;
    this.k = opts.checkpointEvery ?? CHECKPOINT_EVERY;
  }

  append(docId: string, text: string): number {
    const version = this.counts.get(docId) ?? 0;
    // TODO: every version is written whole. Decide what a version really needs to store.
    this.backend.put(`${docId}@${version}`, encoder.encode(text));
    this.counts.set(docId, version + 1);
    return version;
  }

  get(docId: string, version: number): string {
    if (!(version >= 0 && version < this.versions(docId))) throw new RangeError(`${docId} has no version ${version}`);
    // TODO: with less stored, rebuilding a version may take more than one record, at most this.k of them.
    const bytes = this.backend.get(`${docId}@${version}`);
    if (!bytes) throw new RangeError(`version ${version} of ${docId}: record missing`);
    return decoder.decode(bytes);
  }

  versions(docId: string): number {
    return this.counts.get(docId) ?? 0;
  }
}

export function createStore(opts: StoreOptions): VersionStore {
  return new VersionHistory(opts);
}
