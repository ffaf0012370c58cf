/**
 * A half-way variant for the benchmark: deltas taken from the last checkpoint instead of from the version before.
 * Rebuilding any version reads two records (the checkpoint and one delta) instead of up to K, and every delta carries
 * all the edits since the checkpoint, so it grows along the stretch: more bytes for fewer reads.
 */
import { RagError } from '../../shared/errors.ts';
import { applyDelta, dmpDiff, makeDelta } from '../../shared/versions/diff.ts';
import type { RecordBackend, StoreOptions, VersionStore } from './types.ts';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

class DeltasFromCheckpoint implements VersionStore {
  private readonly backend: RecordBackend;
  private readonly k: number;
  private readonly docs = new Map<string, { count: number; checkpoint: string }>();

  constructor(opts: StoreOptions) {
    this.backend = opts.backend;
    this.k = opts.checkpointEvery ?? 16;
  }

  append(docId: string, text: string): number {
    const doc = this.docs.get(docId);
    const version = doc?.count ?? 0;
    if (!doc || version % this.k === 0) {
      this.backend.put(`${docId}@${version}`, encoder.encode(text));
      this.docs.set(docId, { count: version + 1, checkpoint: text });
    } else {
      this.backend.put(`${docId}@${version}`, makeDelta(doc.checkpoint, text, dmpDiff));
      doc.count++;
    }
    return version;
  }

  get(docId: string, version: number): string {
    if (!(version >= 0 && version < this.versions(docId))) throw new RagError('NOT_FOUND', `${docId} has no version ${version}`);
    const start = version - (version % this.k);
    const base = decoder.decode(this.backend.get(`${docId}@${start}`)!);
    return version === start ? base : applyDelta(base, this.backend.get(`${docId}@${version}`)!);
  }

  versions(docId: string): number {
    return this.docs.get(docId)?.count ?? 0;
  }
}

export function createDeltasFromCheckpoint(opts: StoreOptions): VersionStore {
  return new DeltasFromCheckpoint(opts);
}
