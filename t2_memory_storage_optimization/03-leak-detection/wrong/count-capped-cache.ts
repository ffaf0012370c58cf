/**
 * Wrong: the fix a learner writes first. One listener clears the whole cache on an update, the op log is a ring, and
 * the cache is capped at 5,000 entries, dropping the oldest. But a cap in entries is not a cap in memory: an entry
 * here is a body of five chunks with their text (about 7 KB), so 5,000 of them are about 35 MB per process, and the
 * `cacheBytes` the server was started with is ignored.
 *
 * What differs from after.ts: the results cache (`cache` of ServerParts: a Map capped at 5,000 entries, cleared by
 * the one listener, instead of the engine's byte-capped ResultsCache moved to a new version); the op ring and the
 * server are after.ts's.
 *
 * @rejected-with the results cache holds
 */
import type { EventEmitter } from 'node:events';
import type { Engine } from '../../../shared/engine.ts';
import { startServer as startAfter, type QueryServer, type ServerOptions } from '../after.ts';
import { cacheKey, entryBytes, type ServerCache } from '../server-kit.ts';

export type { QueryServer, ServerOptions, ServerStats } from '../after.ts';

const MAX_ENTRIES = 5_000;

/** Bodies by key in insertion order, the oldest dropped past MAX_ENTRIES, all of them on an update. */
function countCappedCache(events: EventEmitter, _maxBytes: number): ServerCache {
  const bodies = new Map<string, string>();
  const onUpdate = () => bodies.clear();
  events.on('update', onUpdate);
  return {
    key: cacheKey,
    get: (key) => bodies.get(key),
    set(key, body) {
      bodies.set(key, body);
      if (bodies.size > MAX_ENTRIES) bodies.delete(bodies.keys().next().value!); // the mistake: entries, not bytes
    },
    get size() {
      return bodies.size;
    },
    get bytes() {
      let n = 0;
      for (const [key, body] of bodies) n += entryBytes(key, body);
      return n;
    },
    close: () => events.off('update', onUpdate),
  };
}

export function startServer(engine: Engine, opts: ServerOptions = {}): Promise<QueryServer> {
  return startAfter(engine, opts, { cache: countCappedCache });
}
