/**
 * Hot update in one process (reload.ts, replica.ts), in-process servers on 127.0.0.1 with small engines (10 Brown
 * documents): who may call POST /v1/admin/reload and what it refuses; the replica loads an index beside its engine,
 * applies the writes numbered meanwhile to both, and swaps at the reload's version, between two writes; a query that
 * started on the old engine finishes there. The cluster, under load: hot-update.test.ts. Counts and versions only.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadBrown } from '../corpus/brown.ts';
import { createEngine, loadEngine, type Engine } from '../engine.ts';
import { createMetrics } from '../observe/metrics.ts';
import { createServer, type RagServer } from './app.ts';
import { generateKey } from './auth.ts';
import { Replica } from './replica.ts';
import type { ReloadResult } from './reload.ts';

const ADMIN = generateKey('admin', ['admin']);
const WRITER = generateKey('writer', ['write']);
let docs: Awaited<ReturnType<typeof loadBrown>>;
let root: string;
let otherDir: string;
const servers: RagServer[] = [];

beforeAll(async () => {
  docs = await loadBrown({ limit: 10 });
  root = await mkdtemp(join(tmpdir(), 'rag-reload-'));
  otherDir = join(root, 'other');
  const other = await createEngine({ llm: null });
  await other.ingest([...docs.slice(0, 5), { id: 'marker', text: 'zqstagedmarker is only in the other index.' }]);
  await other.save(otherDir);
}, 60_000);

afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
  if (root) await rm(root, { recursive: true, force: true });
});

async function engine(): Promise<Engine> {
  const e = await createEngine({ llm: null });
  await e.ingest(docs);
  return e;
}

const post = async (url: string, body: unknown, key?: string) => {
  const res = await fetch(`${url}/v1/admin/reload`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as any };
};

describe('POST /v1/admin/reload', () => {
  it('needs the admin scope, validates its body, and answers 501 where reloading is not set up', async () => {
    const asked: Array<string | undefined> = [];
    const result = { version: 3, index: '/x', dir: '/x', from: 2, documents: 1, chunks: 2, replicas: [], ms: { copy: 0, stage: 0, swap: 0, total: 0 } } satisfies ReloadResult;
    const server = await createServer({
      engine: await engine(),
      maxEventLoopDelayMs: 0,
      auth: { keys: [ADMIN.record, WRITER.record] },
      reload: async (index) => (asked.push(index), result),
    });
    servers.push(server);
    const url = await server.listen(0, '127.0.0.1');
    expect((await post(url, { index: '/x' })).status).toBe(401);
    expect((await post(url, { index: '/x' }, WRITER.key)).status).toBe(403);
    expect((await post(url, { index: 5 }, ADMIN.key)).json.message).toMatch(/body\.index must be string/);
    expect((await post(url, { dir: '/x' }, ADMIN.key)).json.message).toMatch(/body\.dir is not a known field/);
    expect((await post(url, { index: '/x' }, ADMIN.key)).json).toEqual(result);
    expect((await post(url, {}, ADMIN.key)).status).toBe(200);
    expect(asked).toEqual(['/x', undefined]);

    const plain = await createServer({ engine: await engine(), maxEventLoopDelayMs: 0, auth: false });
    servers.push(plain);
    const r = await post(await plain.listen(0, '127.0.0.1'), {});
    expect(r.status).toBe(501);
  }, 60_000);
});

describe('Replica: stage beside, swap at a version', () => {
  it('applies the writes numbered after `from` to both engines, swaps between two writes, and a query begun before finishes on the old engine', async () => {
    const old = await engine();
    const replica = new Replica(createMetrics(), undefined, old, 4);
    const ingest = (id: string, word: string) => ({ kind: 'ingest' as const, docs: [{ id, text: `${word} is a word written during the reload.` }] });
    // write 5 is applied before staging begins (from = 5): it is not in the new index
    await replica.applySequenced(5, ingest('w5', 'zqfivex'));
    const staged = replica.stage(otherDir, 5, (d) => loadEngine(d, { llm: null }));
    // writes 6 and 7 arrive while the other index loads
    const w6 = replica.applySequenced(6, ingest('w6', 'zqsixx'));
    const w7 = replica.applySequenced(7, { kind: 'delete', ids: [docs[0].id] });
    await staged;
    await Promise.all([w6, w7]);
    expect(replica.engine).toBe(old);
    expect(replica.stagedInfo).toMatchObject({ dir: otherDir, from: 5, at: 7 });
    // a query that read the engine before the swap
    const before = replica.engine!;
    const swap = replica.applySequenced(8, { kind: 'reload', dir: otherDir, from: 5, source: otherDir, savedAt: 'x' });
    const w9 = replica.applySequenced(9, ingest('w9', 'zqninex'));
    const outcome = await swap;
    expect(outcome).toMatchObject({ ok: true, result: { documents: 6 } }); // 5 + marker + w6 − 0 (docs[0] deleted) = 6
    await w9;
    expect(replica.version).toBe(9);
    const now = replica.engine!;
    expect(now).not.toBe(old);
    expect(now.hasDocument('marker')).toBe(true);
    expect(now.hasDocument('w5')).toBe(false); // before `from`: replaced by the new index
    expect(now.hasDocument('w6')).toBe(true);
    expect(now.hasDocument(docs[0].id)).toBe(false);
    expect(now.hasDocument('w9')).toBe(true);
    // the old engine saw writes up to the reload, not after it
    expect(before.hasDocument('w6')).toBe(true);
    expect(before.hasDocument('w9')).toBe(false);
    expect((await before.query('zqsixx', { k: 1, mode: 'bm25', answer: false })).hits[0].docId).toBe('w6');
  }, 60_000);

  it('a replica that loaded the reload\'s folder (a worker started after it, a restart) passes the record by', async () => {
    const loaded = await loadEngine(otherDir, { llm: null });
    const replica = new Replica(createMetrics(), undefined, undefined, 0);
    replica.setEngine(loaded, 5, otherDir);
    const out = await replica.applySequenced(6, { kind: 'reload', dir: otherDir, from: 5, source: otherDir, savedAt: 'x' });
    expect(out).toMatchObject({ ok: true, result: { documents: 6 } });
    expect(replica.engine).toBe(loaded);
    expect(replica.version).toBe(6);
    // one holding another folder, with nothing staged, cannot follow it
    const other = new Replica(createMetrics(), undefined, undefined, 0);
    other.setEngine(await engine(), 5, join(root, 'elsewhere'));
    expect(await other.applySequenced(6, { kind: 'reload', dir: otherDir, from: 5, source: otherDir, savedAt: 'x' })).toMatchObject({ ok: false, code: 'RELOAD_FAILED' });
  }, 60_000);

  it('an index that cannot be loaded is dropped and nothing changes', async () => {
    const old = await engine();
    const replica = new Replica(createMetrics(), undefined, old, 1);
    await expect(replica.stage(join(root, 'missing'), 1, (d) => loadEngine(d, { llm: null }))).rejects.toThrow(/cannot load .*missing/);
    expect(replica.stagedInfo).toBeUndefined();
    const out = await replica.applySequenced(2, { kind: 'reload', dir: join(root, 'missing'), from: 1, source: '', savedAt: '' });
    expect(out).toMatchObject({ ok: false, code: 'RELOAD_FAILED' });
    expect(replica.engine).toBe(old);
    expect(replica.version).toBe(1);
  }, 60_000);
});
