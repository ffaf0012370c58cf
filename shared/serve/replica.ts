/**
 * The engine one server process answers from, and the index version it is at. Writes come in numbered by the
 * Sequencer (writes.ts) and are applied strictly in that order, one at a time; each moves the replica, and its
 * results cache, to the write's version, so no cache key built afterwards can name a result computed before it.
 *
 * Hot update (reload.ts): `stage(dir, from, …)` loads another saved index off to the side while this one keeps
 * serving, and applies to it every write numbered after `from` (those already applied here, then each new one as it
 * comes). The reload record, numbered like a write, then swaps the reference in one step, between two writes: every
 * query that read `engine` before finishes on the old engine, every one after runs on the new one, and the results
 * cache moves to the reload's version (nothing computed on the old engine can be read again).
 */
import type { Engine } from '../engine.ts';
import type { Metrics } from '../observe/metrics.ts';
import type { ResultsCache } from './cache.ts';
import { applyWrite, type ApplyOutcome, type LogOp, type ReloadOp } from './writes.ts';

interface Staged {
  dir: string;
  /** The version the staged index stands for. */
  from: number;
  engine: Promise<Engine>;
  /** The writes after `from`, applied to the staged engine in order (resolves when the last one given is applied; never rejects). */
  chain: Promise<void>;
  /** The highest version handed to the chain. */
  at: number;
  /** Writes applied to it so far. */
  applied: number;
  /** Why it cannot be used: it did not load. */
  error?: string;
}

export class Replica {
  private current: Engine | undefined;
  private currentDir: string | undefined;
  private at: number;
  private applyTail: Promise<unknown> = Promise.resolve();
  private staged: Staged | undefined;

  constructor(
    private readonly metrics: Metrics,
    private readonly cache: ResultsCache | undefined,
    engine: Engine | undefined,
    version: number,
  ) {
    this.current = engine;
    this.at = version;
    this.moveTo(version);
  }

  /** Undefined until the index is loaded. */
  get engine(): Engine | undefined {
    return this.current;
  }

  get version(): number {
    return this.at;
  }

  /** The saved index the engine was loaded from, when known (a reload record naming it is then a no-op here). */
  get dir(): string | undefined {
    return this.currentDir;
  }

  /** Installs the engine, optionally at a version (a worker joining late starts at the primary's) and with its folder. */
  setEngine(engine: Engine, version?: number, dir?: string): void {
    this.current = engine;
    if (dir !== undefined) this.currentDir = dir;
    if (version !== undefined) this.moveTo(version);
    this.updateGauges();
  }

  /** Moves to version `v` unless already past it, and keys the results cache by the version reached. */
  moveTo(v: number): void {
    if (v > this.at) this.at = v;
    this.cache?.setVersion(this.at);
  }

  /**
   * Loads the saved index in `dir` off to the side (`load`), then applies `ops` (the writes numbered after `from`
   * that this replica has been given so far, in order) and, from now on, every write after `from` this replica
   * applies. Resolves once it is loaded and has caught up with `ops`; rejects if it cannot be loaded (nothing
   * changes: the staged index is dropped). One at a time.
   */
  async stage(
    dir: string,
    from: number,
    load: (dir: string) => Promise<Engine>,
    ops: Array<[number, LogOp]> = [],
  ): Promise<{ replayed: number; chunks: number; documents: number }> {
    if (this.staged) throw new Error(`an index is already staged (${this.staged.dir})`);
    const engine = load(dir);
    const s: Staged = { dir, from, engine, chain: Promise.resolve(), at: from, applied: 0 };
    s.chain = engine.then(
      () => {},
      (err: Error) => void (s.error ??= `cannot load ${dir}: ${err.message}`),
    );
    this.staged = s;
    for (const [v, op] of ops) this.mirror(s, v, op);
    // caught up with every write handed to it by the time it resolves (more may arrive while it applies these)
    for (let c = s.chain; ; c = s.chain) {
      await c;
      if (c === s.chain) break;
    }
    if (s.error) {
      if (this.staged === s) this.staged = undefined;
      throw new Error(s.error);
    }
    const st = (await engine).stats();
    return { replayed: s.applied, chunks: st.chunks, documents: st.documents };
  }

  /** Drops a staged index (the reload was abandoned). */
  unstage(dir?: string): void {
    if (this.staged && (dir === undefined || this.staged.dir === dir)) this.staged = undefined;
  }

  /** The staged index, if any: its folder and the version it has caught up to. */
  get stagedInfo(): { dir: string; from: number; at: number } | undefined {
    return this.staged && { dir: this.staged.dir, from: this.staged.from, at: this.staged.at };
  }

  /** Applies a sequenced write (or reload) after every earlier one, then moves to its version. */
  applySequenced(v: number, op: LogOp): Promise<ApplyOutcome> {
    const run = async (): Promise<ApplyOutcome> => {
      if (op.kind === 'reload') return this.swap(v, op);
      if (!this.current) return { ok: false, code: 'NOT_READY', message: 'the index is not loaded yet' };
      const outcome = await applyWrite(this.current, op);
      if (this.staged) this.mirror(this.staged, v, op);
      this.moveTo(v);
      this.updateGauges();
      return outcome;
    };
    const p = this.applyTail.then(run, run);
    this.applyTail = p.catch(() => {});
    return p;
  }

  /** Hands a write after `from` to the staged engine's chain (once: a write already given is not given again). */
  private mirror(s: Staged, v: number, op: LogOp): void {
    if (v <= s.at || op.kind === 'reload') return;
    s.at = v;
    s.chain = s.chain.then(async () => {
      if (s.error) return;
      // a write the engine refuses changes nothing (it validates first), on either engine: not the staged index's fault
      await applyWrite(await s.engine, op);
      s.applied++;
    });
  }

  /**
   * The reload record: the staged engine (caught up with every write before `v`) becomes the engine, in one step.
   * A replica that loaded the reload's folder at start (a worker forked after it) has nothing to do.
   */
  private async swap(v: number, op: ReloadOp): Promise<ApplyOutcome> {
    const s = this.staged;
    if (s && s.dir === op.dir) {
      await s.chain;
      if (s.error) {
        this.staged = undefined;
        return { ok: false, code: 'RELOAD_FAILED', message: s.error };
      }
      const engine = await s.engine;
      // the swap: one assignment, then the version (and the cache's) moves past every result of the old engine
      this.current = engine;
      this.currentDir = op.dir;
      this.staged = undefined;
      this.moveTo(v);
      this.updateGauges();
      const st = engine.stats();
      return { ok: true, result: { documents: st.documents, chunks: st.chunks } };
    }
    if (this.currentDir === op.dir && this.current) {
      this.moveTo(v);
      this.updateGauges();
      const st = this.current.stats();
      return { ok: true, result: { documents: st.documents, chunks: st.chunks } };
    }
    return { ok: false, code: 'RELOAD_FAILED', message: `this replica has not staged ${op.dir}` };
  }

  /** Sets the index gauges (chunks, documents, version) from the engine. */
  updateGauges(): void {
    if (!this.current) return;
    const s = this.current.stats();
    this.metrics.indexChunks.set(s.chunks);
    this.metrics.indexDocuments.set(s.documents);
    this.metrics.indexVersion.set(this.at);
  }
}
