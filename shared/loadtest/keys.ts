/**
 * The API key a load test sends. Writes need one (the server answers 401 to anonymous writes), and so do queries
 * when the server keys its reads. With no key given (`--key` / RAG_API_KEY) and one needed, the load test makes a
 * temporary key in the server's keys file (it only runs against loopback, so the file is on this machine), with the
 * read and write scopes and no rate limit, waits until the server accepts it (GET /v1/whoami: the server re-reads
 * the file within about a second), and revokes it when the run ends.
 */
import { existsSync } from 'node:fs';
import { createKey, revokeKey } from '../serve/auth.ts';

export interface LoadKey {
  apiKey?: string;
  /** The server keys its reads: queries must carry the key too. */
  keyOnQueries: boolean;
  /** Revokes a temporary key (no-op otherwise). */
  cleanup(): void;
}

async function status(url: string, init: RequestInit): Promise<number> {
  const res = await fetch(url, init);
  await res.arrayBuffer();
  return res.status;
}

const whoami = (url: string, key?: string) => status(`${url}/v1/whoami`, { headers: key ? { authorization: `Bearer ${key}` } : {} });

/**
 * Decides what key to send: `given` if any (checked), else a temporary one when writes are sent or reads are keyed.
 * Throws with advice when the server does not accept the key.
 */
export async function prepareLoadKey(opts: {
  url: string;
  given?: string;
  keysFile: string;
  sendsWrites: boolean;
  log: (msg: string) => void;
  /** How long to wait for the server to pick a new key up. Default 15 s. */
  waitMs?: number;
}): Promise<LoadKey> {
  const { url, log } = opts;
  const probe = await status(`${url}/v1/query`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query: 'load test probe', k: 1, answer: false }),
  });
  const readsKeyed = probe === 401;
  const none: LoadKey = { keyOnQueries: false, cleanup: () => {} };
  if (opts.given) {
    const s = await whoami(url, opts.given);
    if (s === 401) throw new Error(`${url} does not accept the key given (--key / RAG_API_KEY): unknown or revoked`);
    return { apiKey: opts.given, keyOnQueries: readsKeyed, cleanup: () => {} };
  }
  if (!opts.sendsWrites && !readsKeyed) return none;
  // 404: the server runs with --auth off (or predates keys): nothing to send
  if ((await whoami(url)) !== 401) return none;

  if (!existsSync(opts.keysFile)) {
    // the server creates its keys file on its first start: without one here, it reads another
    throw new Error(
      `${url} needs a key for writes and ${opts.keysFile} does not exist: pass --keys-file (the one the server reads), ` +
        'or --key with a key that has the write scope (npm run keys -- create --scope write)',
    );
  }
  const name = `loadtest-temporary-${process.pid}-${Date.now().toString(36)}`;
  const { key, record } = createKey(opts.keysFile, name, ['read', 'write'], { read: 0, write: 0 });
  let revoked = false;
  const cleanup = () => {
    if (revoked) return;
    revoked = true;
    try {
      revokeKey(opts.keysFile, record.id);
    } catch (err) {
      log(`could not revoke the temporary key ${record.id} in ${opts.keysFile}: ${(err as Error).message}`);
    }
  };
  log(`made a temporary API key ${record.id} (read, write, no rate limit) in ${opts.keysFile}; revoked at the end of the run`);
  const until = Date.now() + (opts.waitMs ?? 15_000);
  while (Date.now() < until) {
    if ((await whoami(url, key)) === 200) return { apiKey: key, keyOnQueries: readsKeyed, cleanup };
    await new Promise((r) => setTimeout(r, 200));
  }
  cleanup();
  throw new Error(
    `${url} did not accept a key added to ${opts.keysFile}: it reads another keys file. Pass --keys-file (the server's), ` +
      'or --key with a key that has the write scope (npm run keys -- create --scope write)',
  );
}
