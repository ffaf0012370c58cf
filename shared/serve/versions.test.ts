/**
 * Document versions on the durable log, with `npm run serve` as a real process on 127.0.0.1 (a 20-document Brown
 * index, one process, snapshots every 4 writes so the log is trimmed during the test):
 *
 *   - the history lists every acknowledged ingest and delete of a document under its version, and each version reads
 *     back exactly as it was written (text, title, metadata), as of any later version too
 *   - a rollback is a new version: the query answers the old text, the history grows, a rollback to a deleted state
 *     deletes
 *   - bad inputs answer 4xx and change nothing (same version, same history)
 *   - after snapshots trimmed the log, kill -9 and a restart (with the history file's last frame torn) the history is
 *     the same: the torn frame comes back from the log
 */
import { readFileSync, statSync, truncateSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadBrown } from '../corpus/brown.ts';
import { createEngine } from '../engine.ts';
import { listSegments } from './store/wal.ts';
import { ServeProcess } from './test-process.ts';

let root: string;
let indexDir: string;
let s: ServeProcess;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'rag-versions-'));
  indexDir = join(root, 'idx');
  const engine = await createEngine({ llm: null });
  await engine.ingest(await loadBrown({ limit: 20 }));
  await engine.save(indexDir);
}, 120_000);

afterAll(async () => {
  await s?.stop();
  if (root) await rm(root, { recursive: true, force: true });
}, 60_000);

/** Texts with a marker word each (letters only, one term for the analyzer). */
const texts = [
  { text: 'zqalphaqq the first draft of the versioned note, about harbours and ships.', title: 'Note, draft', metadata: { stage: 'draft', n: 1 } },
  { text: 'zqbravoqq the second draft of the versioned note, about harbours and trains.', title: 'Note, draft', metadata: { stage: 'draft', n: 2 } },
  { text: 'zqcharlieqq the final version of the versioned note, about airports.', title: 'Note, final', metadata: { stage: 'final', n: 3 } },
  { text: 'zqdeltaqq the note written again after it was deleted.', title: 'Note, again' },
];
const ID = 'notes/ünïcode versioned 1';
const path = (id: string) => `/v1/documents/${encodeURIComponent(id)}`;

async function topDoc(marker: string): Promise<string | undefined> {
  const r = await s.call('POST', '/v1/query', { query: marker, mode: 'bm25', k: 1, answer: false });
  expect(r.status).toBe(200);
  return r.json.hits[0]?.docId;
}

async function ingest(doc: object): Promise<number> {
  const r = await s.call('POST', '/v1/documents', { documents: [doc] });
  expect(r.status, r.text).toBe(200);
  return r.json.version;
}

describe('document versions (single process, durable)', () => {
  it('lists, reconstructs, rolls back, refuses bad input, and survives snapshots, log trimming and kill -9', async () => {
    const data = join(root, 'v.data');
    s = new ServeProcess(['--index', indexDir, '--data-dir', data, '--snapshot-every', '4']);
    await s.start();
    await s.waitServing();

    // ---- a sequence of writes: three edits, another document in between, a delete, a re-ingest
    const written: Array<{ version: number; kind: 'ingest' | 'delete'; doc?: (typeof texts)[number] }> = [];
    for (const t of texts.slice(0, 3)) {
      written.push({ version: await ingest({ id: ID, ...t }), kind: 'ingest', doc: t });
      await ingest({ id: 'other/doc', text: `zqotherqq unrelated text ${written.length}` });
    }
    const del = await s.call('DELETE', path(ID));
    expect(del.status).toBe(200);
    written.push({ version: del.json.version, kind: 'delete' });
    written.push({ version: await ingest({ id: ID, ...texts[3] }), kind: 'ingest', doc: texts[3] });

    const list = await s.call('GET', `${path(ID)}/versions`);
    expect(list.status).toBe(200);
    expect(list.json.id).toBe(ID);
    expect(list.json.versions.map((e: { version: number; kind: string }) => [e.version, e.kind])).toEqual(written.map((w) => [w.version, w.kind]));
    for (const e of list.json.versions) {
      expect(Number.isNaN(Date.parse(e.at))).toBe(false);
      expect(e.bytes).toBeGreaterThan(0);
    }

    // ---- each version reads back exactly as written; a version in between reads as the write before it
    const checkReconstruction = async () => {
      const current = (await s.call('GET', '/healthz')).json.version;
      for (const w of written) {
        const r = await s.call('GET', `${path(ID)}/versions/${w.version}`);
        if (w.kind === 'delete') {
          expect(r.status).toBe(404);
          expect(r.json.message).toMatch(/deleted at version/);
          continue;
        }
        expect(r.status, r.text).toBe(200);
        expect(r.json).toMatchObject({ id: ID, version: w.version, asOf: w.version, text: w.doc!.text, title: w.doc!.title });
        expect(r.json.metadata).toEqual((w.doc as { metadata?: object }).metadata);
        // the write to the other document came after: as of that version the note is still this one
        const later = await s.call('GET', `${path(ID)}/versions/${w.version + 1}`);
        if (w.version + 1 > current || written.some((x) => x.version === w.version + 1)) continue;
        expect(later.json).toMatchObject({ version: w.version, asOf: w.version + 1, text: w.doc!.text });
      }
    };
    await checkReconstruction();
    expect(await topDoc('zqdeltaqq')).toBe(ID);
    expect(await topDoc('zqalphaqq')).toBeUndefined();

    // ---- bad inputs: 4xx, nothing changes
    const before = { version: (await s.call('GET', '/healthz')).json.version, history: (await s.call('GET', `${path(ID)}/versions`)).text };
    const bad: Array<[string, string, unknown, number, RegExp]> = [
      ['POST', `${path(ID)}/rollback`, { version: -1 }, 400, /body\.version/],
      ['POST', `${path(ID)}/rollback`, { version: 'one' }, 400, /body\.version/],
      ['POST', `${path(ID)}/rollback`, { version: 1, extra: true }, 400, /extra/],
      ['POST', `${path(ID)}/rollback`, {}, 400, /version/],
      ['POST', `${path(ID)}/rollback`, { version: before.version + 5 }, 400, /after the current version/],
      ['POST', `${path(ID)}/rollback`, { version: written[0].version - 1 }, 404, /no version at or before/],
      ['POST', `${path('no/such/doc')}/rollback`, { version: 1 }, 404, /no version history/],
      ['POST', `/v1/documents/bad%01id/rollback`, { version: 1 }, 400, /control character/],
      ['GET', `${path(ID)}/versions/abc`, undefined, 400, /params\.v/],
      ['GET', `${path(ID)}/versions/-1`, undefined, 400, /params\.v/],
      ['GET', `${path(ID)}/versions/${before.version + 100}`, undefined, 404, /no version \d+ yet/],
      ['GET', `${path('no/such/doc')}/versions`, undefined, 404, /no version history/],
      ['GET', `${path('no/such/doc')}/versions/1`, undefined, 404, /no version history/],
      ['GET', `/v1/documents/bad%01id/versions`, undefined, 400, /control character/],
    ];
    for (const [method, url, body, status, message] of bad) {
      const r = await s.call(method, url, body);
      expect([url, r.status], r.text).toEqual([url, status]);
      expect(r.json).toMatchObject({ statusCode: status });
      expect(r.json.message).toMatch(message);
    }
    expect((await s.call('GET', '/healthz')).json.version).toBe(before.version);
    expect((await s.call('GET', `${path(ID)}/versions`)).text).toBe(before.history);

    // ---- rollback to the first draft: a new version, the query answers the old text
    const rb = await s.call('POST', `${path(ID)}/rollback`, { version: written[0].version });
    expect(rb.status, rb.text).toBe(200);
    expect(rb.json).toMatchObject({ to: written[0].version, restored: 'ingest', documents: 1 });
    expect(rb.json.version).toBe(before.version + 1);
    written.push({ version: rb.json.version, kind: 'ingest', doc: texts[0] });
    expect(await topDoc('zqalphaqq')).toBe(ID);
    expect(await topDoc('zqdeltaqq')).toBeUndefined();
    const rbRead = await s.call('GET', `${path(ID)}/versions/${rb.json.version}`);
    expect(rbRead.json).toMatchObject({ version: rb.json.version, text: texts[0].text, title: texts[0].title, metadata: texts[0].metadata });

    // a rollback to a version in between (the other document's write) restores the write at or before it
    const rb2 = await s.call('POST', `${path(ID)}/rollback`, { version: written[1].version + 1 });
    expect(rb2.json).toMatchObject({ to: written[1].version, restored: 'ingest', version: rb.json.version + 1 });
    written.push({ version: rb2.json.version, kind: 'ingest', doc: texts[1] });
    expect(await topDoc('zqbravoqq')).toBe(ID);

    // a rollback to where it was deleted deletes it, as a new version
    const rb3 = await s.call('POST', `${path(ID)}/rollback`, { version: written[3].version });
    expect(rb3.json).toMatchObject({ to: written[3].version, restored: 'delete', removed: 1, version: rb2.json.version + 1 });
    written.push({ version: rb3.json.version, kind: 'delete' });
    expect(await topDoc('zqbravoqq')).toBeUndefined();
    // … and again: nothing to delete, no new version
    const rb4 = await s.call('POST', `${path(ID)}/rollback`, { version: written[3].version });
    expect(rb4.json).toMatchObject({ removed: 0, version: rb3.json.version });

    const afterRollbacks = await s.call('GET', `${path(ID)}/versions`);
    expect(afterRollbacks.json.versions.map((e: { version: number }) => e.version)).toEqual(written.map((w) => w.version));
    await checkReconstruction();

    // ---- the last write after the last snapshot (every 4 writes), so it is still in the log for the torn-frame case
    let version = rb3.json.version;
    if (version % 4 === 0) version = await ingest({ id: 'other/doc', text: 'zqotherqq filler' });
    const last = await ingest({ id: ID, text: 'zqechoqq the last word', title: 'Note, last' });
    written.push({ version: last, kind: 'ingest', doc: { text: 'zqechoqq the last word', title: 'Note, last' } as (typeof texts)[number] });
    const listed = (await s.call('GET', `${path(ID)}/versions`)).text;

    // ---- kill -9; tear the history file's last frame (3 bytes short); restart
    await s.killTree();
    const file = join(data, 'history', 'history.log');
    truncateSync(file, statSync(file).size - 3);
    await s.start();
    await s.waitServing();
    const recovered = s.logLines(/^recovered/)[0];
    // snapshots were taken: the log no longer holds the early writes, only the history file does
    expect(recovered.baseVersion).toBeGreaterThan(written[2].version);
    expect(recovered.replay).toBeGreaterThan(0);
    expect(listSegments(join(data, 'wal'))[0].first).toBeGreaterThan(written[2].version);
    expect(s.logLines(/incomplete frame at the end of the document history/)).toHaveLength(1);
    // the same history; the torn frame's write was recorded again from the log (its `at` is now the recovery's)
    const relisted = (await s.call('GET', `${path(ID)}/versions`)).json.versions;
    const listedBefore = JSON.parse(listed).versions;
    expect(relisted.slice(0, -1)).toEqual(listedBefore.slice(0, -1));
    expect({ ...relisted.at(-1), at: undefined }).toEqual({ ...listedBefore.at(-1), at: undefined });
    expect(relisted.at(-1).at >= listedBefore.at(-1).at).toBe(true);
    await checkReconstruction();
    expect(readFileSync(file).length).toBeGreaterThan(0);

    // ---- and it keeps recording after the restart
    const rb5 = await s.call('POST', `${path(ID)}/rollback`, { version: written[2].version });
    expect(rb5.json).toMatchObject({ restored: 'ingest', to: written[2].version, documents: 1 });
    expect(await topDoc('zqcharlieqq')).toBe(ID);
    await s.stop();
  }, 180_000);
});

describe('document versions (cluster, --workers 2)', () => {
  it('the primary records, every worker reads the history file, a rollback goes through the primary', async () => {
    s = new ServeProcess(['--index', indexDir, '--data-dir', join(root, 'cluster.data'), '--workers', '2']);
    await s.start();
    await s.waitServing();
    const id = 'cluster/note';
    const v1 = await ingest({ id, text: 'zqfoxtrotqq the first text in the cluster', metadata: { n: 1 } });
    const v2 = await ingest({ id, text: 'zqgolfqq the second text in the cluster', metadata: { n: 2 } });
    // each request on a fresh connection: the primary hands them to both workers in turn
    for (let i = 0; i < 4; i++) {
      const list = await s.call('GET', `${path(id)}/versions`);
      expect(list.json.versions.map((e: { version: number }) => e.version)).toEqual([v1, v2]);
      const r = await s.call('GET', `${path(id)}/versions/${v1}`);
      expect(r.json).toMatchObject({ version: v1, text: 'zqfoxtrotqq the first text in the cluster', metadata: { n: 1 } });
    }
    const rb = await s.call('POST', `${path(id)}/rollback`, { version: v1 });
    expect(rb.json).toMatchObject({ version: v2 + 1, to: v1, restored: 'ingest' });
    for (let i = 0; i < 4; i++) {
      expect(await topDoc('zqfoxtrotqq')).toBe(id);
      const list = await s.call('GET', `${path(id)}/versions`);
      expect(list.json.versions.map((e: { version: number }) => e.version)).toEqual([v1, v2, v2 + 1]);
    }
    await s.stop();
  }, 180_000);
});

