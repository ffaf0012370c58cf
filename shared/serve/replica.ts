/**
 * The engine one server process answers from, and the index version it is at. Writes come in numbered by the
 * Sequencer (writes.ts) and are applied strictly in that order, one at a time; each moves the replica, and its
 * results cache, to the write's version, so no cache key built afterwards can name a result computed before it.
 */
import type { Engine } from '../engine.ts';
import type { Metrics } from '../observe/metrics.ts';
import type { ResultsCache } from './cache.ts';
import { applyWrite, type ApplyOutcome, type WriteOp } from './writes.ts';

export class Replica {
  private current: Engine | undefined;
  private at: number;
  private applyTail: Promise<unknown> = Promise.resolve();

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

  /** Installs the engine, optionally at a version (a worker joining late starts at the primary's). */
  setEngine(engine: Engine, version?: number): void {
    this.current = engine;
    if (version !== undefined) this.moveTo(version);
    this.updateGauges();
  }

  /** Moves to version `v` unless already past it, and keys the results cache by the version reached. */
  moveTo(v: number): void {
    if (v > this.at) this.at = v;
    this.cache?.setVersion(this.at);
  }

  /** Applies a sequenced write after every earlier one, then moves to its version. */
  applySequenced(v: number, op: WriteOp): Promise<ApplyOutcome> {
    const run = async (): Promise<ApplyOutcome> => {
      if (!this.current) return { ok: false, code: 'NOT_READY', message: 'the index is not loaded yet' };
      const outcome = await applyWrite(this.current, op);
      this.moveTo(v);
      this.updateGauges();
      return outcome;
    };
    const p = this.applyTail.then(run, run);
    this.applyTail = p.catch(() => {});
    return p;
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
