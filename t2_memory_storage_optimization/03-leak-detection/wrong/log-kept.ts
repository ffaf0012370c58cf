/**
 * Wrong: the cache and its invalidation are fixed (the engine's byte-capped ResultsCache, one listener that moves it
 * to a new version), but the op log still keeps every operation: small entries, so the heap check barely notices
 * them at first, and /stats sorts the whole history on every call. A day of traffic is millions of entries.
 *
 * What differs from after.ts: the op log (`opLog` of ServerParts: an array of every operation instead of the ring);
 * the cache, its listener and the server are after.ts's.
 *
 * @rejected-with operations in the op log
 */
import type { Engine } from '../../../shared/engine.ts';
import { startServer as startAfter, type QueryServer, type ServerOptions } from '../after.ts';
import { RECENT, p99, type OpLog } from '../server-kit.ts';

export type { QueryServer, ServerOptions, ServerStats } from '../after.ts';

interface Op {
  at: number;
  query: string;
  ms: number;
}

/** Every search ever recorded; `opLogSize` is not looked at. */
class KeptLog implements OpLog {
  private readonly ops: Op[] = [];

  record(query: string, ms: number): void {
    this.ops.push({ at: Date.now(), query, ms }); // the mistake: nothing ever leaves
  }

  get requests(): number {
    return this.ops.length;
  }

  get entries(): number {
    return this.ops.length;
  }

  p99(): number {
    return p99(this.ops.map((op) => op.ms));
  }

  recent(): string[] {
    return this.ops.slice(-RECENT).map((op) => op.query);
  }
}

export function startServer(engine: Engine, opts: ServerOptions = {}): Promise<QueryServer> {
  return startAfter(engine, opts, { opLog: () => new KeptLog() });
}
