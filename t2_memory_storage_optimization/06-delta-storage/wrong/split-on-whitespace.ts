/**
 * Wrong (on purpose): a word diff written by hand the quick way, with checkpoints. The text is split into words with
 * `split(/\s+/)` and a version is rebuilt by joining the words with single spaces: small deltas, bounded reads, and
 * the blank line between two paragraphs (and every double space) comes back as one space. The history is no longer
 * the documents that were stored.
 *
 * What differs from after.ts: the diff and its tokens (words without their whitespace); checkpoints every K versions
 * as in after.ts, but stored as the rejoined words too.
 *
 * @rejected-with did not come back byte for byte
 */
import { applyDelta, encodeDelta, tokenDiff } from '../../../shared/versions/diff.ts';
import type { RecordBackend, StoreOptions, VersionStore } from '../types.ts';

export type { RecordBackend, StoreOptions, VersionStore } from '../types.ts';

export const CHECKPOINT_EVERY = 16;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Words, each followed by one space: joined, they give the text with its whitespace collapsed. */
const words = (text: string) => text.split(/\s+/).filter((w) => w.length > 0).map((w) => `${w} `);

class WordDeltas implements VersionStore {
  private readonly backend: RecordBackend;
  private readonly k: number;
  private readonly docs = new Map<string, { count: number; latest: string }>();

  constructor(opts: StoreOptions) {
    this.backend = opts.backend;
    this.k = opts.checkpointEvery ?? CHECKPOINT_EVERY;
  }

  append(docId: string, text: string): number {
    const doc = this.docs.get(docId);
    const version = doc?.count ?? 0;
    const joined = words(text).join('');
    const record = !doc || version % this.k === 0 ? encoder.encode(joined) : encodeDelta(tokenDiff(words(doc.latest), words(text)));
    this.backend.put(`${docId}@${version}`, record);
    this.docs.set(docId, { count: version + 1, latest: text });
    return version;
  }

  get(docId: string, version: number): string {
    if (!(version >= 0 && version < this.versions(docId))) throw new RangeError(`${docId} has no version ${version}`);
    const start = version - (version % this.k);
    let text = decoder.decode(this.backend.get(`${docId}@${start}`)!);
    for (let v = start + 1; v <= version; v++) text = applyDelta(text, this.backend.get(`${docId}@${v}`)!);
    return text.trimEnd();
  }

  versions(docId: string): number {
    return this.docs.get(docId)?.count ?? 0;
  }
}

export function createStore(opts: StoreOptions): VersionStore {
  return new WordDeltas(opts);
}
