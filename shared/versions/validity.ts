/**
 * Which labels (chunks) are live at which index version: the versioned-chunks half of lesson t2/07-versions.
 *
 * Every label has one or more rows `[from, to)`: it entered the index at version `from` and left it at version `to`
 * (OPEN while it is still live). A write that replaces a document closes its old chunks' rows and opens rows for its
 * new chunks at the write's version; nothing is deleted. The index as of version v is every label with a row where
 * from ≤ v < to, so one index answers for every version and a version costs only the rows it changed.
 *
 *     const t = new ValidityTable();
 *     t.open(7, 1);                 // label 7 live from version 1
 *     t.close(7, 5);                // … until version 5 (a newer version of its document replaced it)
 *     t.isLiveAt(7, 4) === true; t.isLiveAt(7, 5) === false;
 *     const live = t.liveAt(4);     // bitmap: live[label] === 1 for the labels of version 4
 *     t.restore(2, 9);              // rollback: version 9 holds exactly the labels of version 2 (rows reopened)
 *
 * A rollback is a new version, not a deletion: `restore(v, at)` closes the rows of labels not live at v and opens
 * new rows for labels that were, so every version before `at` still answers as it did. `prune(horizon)` forgets rows
 * that ended at or before a horizon and returns the labels no row refers to any more (their vectors and postings
 * can then go), which bounds the history kept.
 *
 * Layout: parallel Int32Arrays (row label, from, to) that double when full, plus per label the index of its open
 * row (−1 when closed): 12 bytes per row, 4 per label, no object per row.
 */
import { RagError } from '../errors.ts';

/** `to` of a row that has not ended. */
export const OPEN = 0x7fffffff;

export class ValidityTable {
  private rowLabel = new Int32Array(64);
  private rowFrom = new Int32Array(64);
  private rowTo = new Int32Array(64);
  private n = 0;
  /** Per label: its open row, or −1. */
  private openRow = new Int32Array(64).fill(-1);
  private labels = 0;
  private openCount = 0;

  /** Rows held (each label has one per stretch of versions it was live). */
  get rows(): number {
    return this.n;
  }

  /** Labels currently live (with an open row). */
  get live(): number {
    return this.openCount;
  }

  /** One more than the highest label seen: the length of a `liveAt` bitmap. */
  get labelSpan(): number {
    return this.labels;
  }

  isOpen(label: number): boolean {
    return label < this.labels && this.openRow[label] >= 0;
  }

  /** `label` is live from `version` on. Throws if it is live already. */
  open(label: number, version: number): void {
    checkInt(label, 'label');
    checkInt(version, 'version');
    this.ensureLabel(label);
    if (this.openRow[label] >= 0) throw new RagError('INVALID_INPUT', `label ${label} is live already (since version ${this.rowFrom[this.openRow[label]]})`);
    if (this.n === this.rowLabel.length) this.growRows();
    this.rowLabel[this.n] = label;
    this.rowFrom[this.n] = version;
    this.rowTo[this.n] = OPEN;
    this.openRow[label] = this.n++;
    this.openCount++;
  }

  /** `label` is not live from `version` on. Throws if it is not live. */
  close(label: number, version: number): void {
    checkInt(version, 'version');
    const row = label < this.labels ? this.openRow[label] : -1;
    if (row < 0) throw new RagError('INVALID_INPUT', `label ${label} is not live`);
    if (version < this.rowFrom[row]) throw new RagError('INVALID_INPUT', `label ${label} cannot end at ${version}, before it began (${this.rowFrom[row]})`);
    this.rowTo[row] = version;
    this.openRow[label] = -1;
    this.openCount--;
  }

  /** Whether `label` was live at `version`. O(rows of the table) in the worst case: use `liveAt` for many labels. */
  isLiveAt(label: number, version: number): boolean {
    for (let r = 0; r < this.n; r++) {
      if (this.rowLabel[r] === label && this.rowFrom[r] <= version && version < this.rowTo[r]) return true;
    }
    return false;
  }

  /** Bitmap of the labels live at `version`: out[label] === 1. One pass over the rows. */
  liveAt(version: number, out?: Uint8Array): Uint8Array {
    const live = out && out.length >= this.labels ? out.fill(0) : new Uint8Array(this.labels);
    for (let r = 0; r < this.n; r++) if (this.rowFrom[r] <= version && version < this.rowTo[r]) live[this.rowLabel[r]] = 1;
    return live;
  }

  /** The labels live at `version`, ascending. */
  labelsAt(version: number): number[] {
    const live = this.liveAt(version);
    const out: number[] = [];
    for (let l = 0; l < live.length; l++) if (live[l] === 1) out.push(l);
    return out;
  }

  /**
   * Rollback as a new version: from version `at` on, exactly the labels live at `version` are live. Rows of labels
   * live now but not then are closed at `at`; labels live then but not now get a new row from `at`. Rows are never
   * removed, so every version before `at` keeps its answer.
   */
  restore(version: number, at: number): { opened: number[]; closed: number[] } {
    const then = this.liveAt(version);
    const opened: number[] = [];
    const closed: number[] = [];
    for (let label = 0; label < this.labels; label++) {
      const nowLive = this.openRow[label] >= 0;
      if (nowLive && then[label] !== 1) {
        this.close(label, at);
        closed.push(label);
      } else if (!nowLive && then[label] === 1) {
        this.open(label, at);
        opened.push(label);
      }
    }
    return { opened, closed };
  }

  /**
   * Forgets the history before `horizon`: rows that ended at or before it are dropped (versions before the horizon
   * can no longer be queried exactly). Returns the labels no remaining row refers to.
   */
  prune(horizon: number): number[] {
    const referenced = new Uint8Array(this.labels);
    const hadRow = new Uint8Array(this.labels);
    let w = 0;
    for (let r = 0; r < this.n; r++) {
      hadRow[this.rowLabel[r]] = 1;
      if (this.rowTo[r] <= horizon) continue;
      this.rowLabel[w] = this.rowLabel[r];
      this.rowFrom[w] = this.rowFrom[r];
      this.rowTo[w] = this.rowTo[r];
      if (this.rowTo[w] === OPEN) this.openRow[this.rowLabel[w]] = w;
      referenced[this.rowLabel[w]] = 1;
      w++;
    }
    this.n = w;
    const gone: number[] = [];
    for (let l = 0; l < this.labels; l++) if (hadRow[l] === 1 && referenced[l] === 0) gone.push(l);
    return gone;
  }

  private ensureLabel(label: number): void {
    if (label >= this.openRow.length) {
      let cap = this.openRow.length * 2;
      while (cap <= label) cap *= 2;
      const next = new Int32Array(cap).fill(-1);
      next.set(this.openRow);
      this.openRow = next;
    }
    if (label >= this.labels) this.labels = label + 1;
  }

  private growRows(): void {
    const cap = this.rowLabel.length * 2;
    const grow = (a: Int32Array) => {
      const b = new Int32Array(cap);
      b.set(a);
      return b;
    };
    this.rowLabel = grow(this.rowLabel);
    this.rowFrom = grow(this.rowFrom);
    this.rowTo = grow(this.rowTo);
  }
}

function checkInt(x: number, what: string): void {
  if (!Number.isInteger(x) || x < 0 || x >= OPEN) throw new RagError('INVALID_INPUT', `${what} must be an integer in [0, ${OPEN}), got ${x}`);
}
