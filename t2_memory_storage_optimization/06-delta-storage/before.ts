/**
 * Every version of every document kept whole: the store most systems start with (a row per version, a file per
 * version, an object-store key per version). Reading a version is one record and no work; storing one costs the whole
 * document again, even when the edit was one word.
 */
import { RagError } from '../../shared/errors.ts';
import type { RecordBackend, StoreOptions, VersionStore } from './types.ts';

export type { RecordBackend, StoreOptions, VersionStore } from './types.ts';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

class FullCopies implements VersionStore {
  private readonly backend: RecordBackend;
  private readonly counts = new Map<string, number>();

  constructor(opts: StoreOptions) {
    this.backend = opts.backend;
  }

  append(docId: string, text: string): number {
    const version = this.counts.get(docId) ?? 0;
    this.backend.put(`${docId}@${version}`, encoder.encode(text));
    this.counts.set(docId, version + 1);
    return version;
  }

  get(docId: string, version: number): string {
    if (!(version >= 0 && version < this.versions(docId))) throw new RagError('NOT_FOUND', `${docId} has no version ${version}`);
    const bytes = this.backend.get(`${docId}@${version}`);
    if (!bytes) throw new RagError('CORRUPT', `version ${version} of ${docId}: record missing`);
    return decoder.decode(bytes);
  }

  versions(docId: string): number {
    return this.counts.get(docId) ?? 0;
  }
}

export function createStore(opts: StoreOptions): VersionStore {
  return new FullCopies(opts);
}
