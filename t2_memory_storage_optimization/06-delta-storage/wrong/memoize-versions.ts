/**
 * Wrong (on purpose): after.ts's deltas and checkpoints, plus a cache of every version rebuilt or appended, so that a
 * second read is free. The backend holds few bytes; the process holds a full copy of every version it has seen, which
 * is the cost the delta store was built to avoid, moved from disk to memory.
 *
 * What differs from after.ts: a Map from docId@version to text in front of the store.
 *
 * @rejected-with in its own memory
 */
import { createStore as createAfter, type StoreOptions, type VersionStore } from '../after.ts';

export { CHECKPOINT_EVERY, type RecordBackend, type StoreOptions, type VersionStore } from '../after.ts';

class Memoized implements VersionStore {
  private readonly cache = new Map<string, string>();
  private readonly store: VersionStore;

  constructor(opts: StoreOptions) {
    this.store = createAfter(opts);
  }

  append(docId: string, text: string): number {
    const v = this.store.append(docId, text);
    this.cache.set(`${docId}@${v}`, text);
    return v;
  }

  get(docId: string, version: number): string {
    const key = `${docId}@${version}`;
    let text = this.cache.get(key);
    if (text === undefined) this.cache.set(key, (text = this.store.get(docId, version)));
    return text;
  }

  versions(docId: string): number {
    return this.store.versions(docId);
  }
}

export function createStore(opts: StoreOptions): VersionStore {
  return new Memoized(opts);
}
