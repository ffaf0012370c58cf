/**
 * Wrong (on purpose): after.ts's versioned chunks, but a rollback to version v throws away the versions after v, the
 * way `git reset --hard` does: the history goes back to v and the next write is v + 1 again. Queries as of the
 * versions that were rolled back over now answer with whatever is written later under the same numbers, and a
 * caller that recorded "version 22" can no longer ask what it was.
 *
 * What differs from after.ts: the version numbers the caller sees. After a rollback to v, the numbers above v are
 * forgotten and reused (the index underneath is after.ts's, so the answers for a number are those of whichever
 * write holds it now).
 *
 * @rejected-with a rollback writes a new version
 */
import type { Doc } from '../../../shared/types.ts';
import { createHistory as createVersioned } from '../after.ts';
import { checkQuery, checkVersion } from '../base.ts';
import type { AsOfHit, AsOfQuery, HistoryOptions, VersionedIndex, WriteOp } from '../types.ts';

export type { AsOfHit, AsOfQuery, HistoryOptions, VersionedIndex, WriteOp } from '../types.ts';

class Truncating implements VersionedIndex {
  private readonly inner: VersionedIndex;
  /** The caller's version i is the inner history's version at[i]. */
  private readonly at: number[] = [0];

  constructor(opts: HistoryOptions) {
    this.inner = createVersioned(opts);
  }

  get version(): number {
    return this.at.length - 1;
  }

  async apply(op: WriteOp): Promise<number> {
    this.at.push(await this.inner.apply(op));
    return this.version;
  }

  async query(text: string, opts: AsOfQuery = {}): Promise<AsOfHit[]> {
    const { asOf, k } = checkQuery(text, opts, this.version);
    return this.inner.query(text, { asOf: this.at[asOf], k });
  }

  document(id: string, asOf = this.version): Doc | undefined {
    return this.inner.document(id, this.at[checkVersion(asOf, this.version, 'document as of')]);
  }

  async rollback(to: number): Promise<number> {
    checkVersion(to, this.version, 'rollback to');
    const restored = await this.inner.rollback(this.at[to]);
    this.at.length = to + 1; // the versions after `to` are gone
    this.at[to] = restored;
    return this.version;
  }
}

export function createHistory(opts: HistoryOptions): VersionedIndex {
  return new Truncating(opts);
}
