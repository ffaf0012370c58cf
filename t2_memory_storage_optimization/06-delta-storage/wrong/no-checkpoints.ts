/**
 * Wrong (on purpose): deltas, but only version 0 is stored whole. Every version is the one before it plus a delta, so
 * the bytes are small, and rebuilding version v applies v deltas: the cost of reading grows with the length of the
 * history, without bound.
 *
 * What differs from after.ts: checkpointEvery is ignored (no full copy after version 0); the diff and the delta
 * encoding are after.ts's (shared/versions/diff.ts).
 *
 * @rejected-with deltas since the last full copy
 */
import { applyDelta, dmpDiff, makeDelta } from '../../../shared/versions/diff.ts';
import type { RecordBackend, StoreOptions, VersionStore } from '../types.ts';

export type { RecordBackend, StoreOptions, VersionStore } from '../types.ts';

export const CHECKPOINT_EVERY = 16;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

class DeltaChain implements VersionStore {
  private readonly backend: RecordBackend;
  private readonly docs = new Map<string, { count: number; latest: string }>();

  constructor(opts: StoreOptions) {
    this.backend = opts.backend;
  }

  append(docId: string, text: string): number {
    const doc = this.docs.get(docId);
    const version = doc?.count ?? 0;
    this.backend.put(`${docId}@${version}`, doc ? makeDelta(doc.latest, text, dmpDiff) : encoder.encode(text));
    this.docs.set(docId, { count: version + 1, latest: text });
    return version;
  }

  get(docId: string, version: number): string {
    if (!(version >= 0 && version < this.versions(docId))) throw new RangeError(`${docId} has no version ${version}`);
    let text = decoder.decode(this.backend.get(`${docId}@0`)!);
    for (let v = 1; v <= version; v++) text = applyDelta(text, this.backend.get(`${docId}@${v}`)!);
    return text;
  }

  versions(docId: string): number {
    return this.docs.get(docId)?.count ?? 0;
  }
}

export function createStore(opts: StoreOptions): VersionStore {
  return new DeltaChain(opts);
}
