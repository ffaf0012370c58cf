/**
 * Wrong (on purpose): the right tools in the wrong place. Each get creates its own pool (an undici Pool, an
 * auto-pipelined ioredis client, a pg.Pool), uses it for one lookup and closes it. It looks pooled and it is tidy,
 * but a pool that lives for one call holds one connection for one call: every lookup still pays the handshake and
 * the start-up exchange (and a forked Postgres process), exactly as before.ts does. The pool has to outlive the call.
 *
 * What differs from after.ts: where each store lives: every get builds one of after.ts's stores (its pool), makes its
 * one lookup and closes it.
 *
 * @rejected-with 20 lookups one after another opened 20 connections
 */
import * as pooled from '../after.ts';
import type { ChunkStore, StoreOptions } from '../after.ts';

export type { ChunkRecord, ChunkStore, StoreOptions } from '../after.ts';

/** A store whose every get opens a store of its own (`open`), uses it once and closes it. */
function perCall(kind: ChunkStore['kind'], open: () => ChunkStore): ChunkStore {
  return {
    kind,
    async get(id) {
      const store = open();
      try {
        return await store.get(id);
      } finally {
        await store.close();
      }
    },
    close: async () => undefined,
  };
}

export function redisStore(url: string, keyPrefix: string, opts: StoreOptions = {}): ChunkStore {
  return perCall('redis', () => pooled.redisStore(url, keyPrefix, opts));
}

export function httpStore(baseUrl: string, opts: StoreOptions = {}): ChunkStore {
  return perCall('http', () => pooled.httpStore(baseUrl, opts));
}

const TABLE_NAME = /^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)?$/;

export function pgStore(databaseUrl: string, table: string, opts: StoreOptions = {}): ChunkStore {
  if (!TABLE_NAME.test(table)) throw new Error(`pgStore: table must be a plain [schema.]name, got "${table}"`);
  return perCall('pg', () => pooled.pgStore(databaseUrl, table, opts));
}
