/**
 * Wrong: the cache is bounded in bytes (an LRU) and the op log is a ring, but each cached query still subscribes its
 * own listener, now with `once`, to drop its entry on the next update. `once` removes a listener when the event
 * fires: until the next update, which may be hours away, they pile up one per unique query, each holding its
 * closure, and outlive the entries they were for.
 *
 * What differs from after.ts: invalidation (`cache` of ServerParts: an LRU in bytes, lru-cache's, each entry with a
 * `once` listener that deletes it, instead of one listener that moves the engine's ResultsCache to a new version);
 * the op ring and the server are after.ts's.
 *
 * @rejected-with 'update' listeners on the server's events
 */
import type { EventEmitter } from 'node:events';
import { LRUCache } from 'lru-cache';
import type { Engine } from '../../../shared/engine.ts';
import { startServer as startAfter, type QueryServer, type ServerOptions } from '../after.ts';
import { cacheKey, entryBytes, type ServerCache } from '../server-kit.ts';

export type { QueryServer, ServerOptions, ServerStats } from '../after.ts';

/** An LRU capped in bytes whose every entry subscribes, once, to be deleted on the next update. */
function onceListenerCache(events: EventEmitter, maxBytes: number): ServerCache {
  events.setMaxListeners(0);
  const lru = new LRUCache<string, string>({ maxSize: maxBytes, sizeCalculation: (body, key) => entryBytes(key, body) });
  return {
    key: cacheKey,
    get: (key) => lru.get(key),
    set(key, body) {
      lru.set(key, body);
      events.once('update', () => lru.delete(key)); // the mistake: a listener per entry, gone only when updates come
    },
    get size() {
      return lru.size;
    },
    get bytes() {
      return lru.calculatedSize;
    },
    close() {},
  };
}

export function startServer(engine: Engine, opts: ServerOptions = {}): Promise<QueryServer> {
  return startAfter(engine, opts, { cache: onceListenerCache });
}
