/**
 * The document history file (history.ts) on its own: long histories across checkpoints and reopenings, refused
 * writes, hot updates, torn frames, and a read-only reader following a writer.
 */
import { appendFileSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CHECKPOINT_EVERY, DocumentHistory } from './history.ts';

const ok = { ok: true as const, result: {} };
const quiet = { warn: () => {}, error: () => {} };
let dir: string;
const open: DocumentHistory[] = [];
const history = (reader = false) => {
  const h = reader ? DocumentHistory.openReader(dir) : DocumentHistory.open(dir, quiet);
  open.push(h);
  return h;
};
const text = (i: number) => `version ${i}: ${'the quick brown fox '.repeat(20)}${i % 3 === 0 ? 'jumps' : 'sleeps'} ${i}`;

afterEach(async () => {
  for (const h of open.splice(0)) h.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('document history file', () => {
  it('reads back every version across checkpoints, reopened in between, and continues after a reopen', async () => {
    dir = await mkdtemp(join(tmpdir(), 'rag-history-'));
    const n = CHECKPOINT_EVERY * 2 + 5;
    let h = history();
    for (let i = 1; i <= n; i++) h.record(i, { kind: 'ingest', docs: [{ id: 'd', text: text(i), metadata: { i } }] }, ok);
    h.close();
    open.pop();
    h = history();
    expect(h.last).toBe(n);
    for (let i = n + 1; i <= n + 3; i++) h.record(i, { kind: 'ingest', docs: [{ id: 'd', text: text(i), metadata: { i } }] }, ok);
    for (let i = 1; i <= n + 3; i++) {
      const s = h.stateAt('d', i);
      expect(s.kind === 'ingest' && s.doc.text).toBe(text(i));
      expect(s.kind === 'ingest' && s.doc.metadata).toEqual({ i });
    }
    // deltas are small, checkpoints are full copies
    const sizes = h.list('d').map((e) => e.bytes);
    expect(sizes[1]).toBeLessThan(sizes[0] / 2);
    expect(sizes[CHECKPOINT_EVERY]).toBeGreaterThan(sizes[1] * 2);
  });

  it('skips refused writes, records deletes, and does not guess across a hot update', async () => {
    dir = await mkdtemp(join(tmpdir(), 'rag-history-'));
    const h = history();
    h.record(1, { kind: 'ingest', docs: [{ id: 'a', text: 'one' }] }, ok);
    h.record(2, { kind: 'ingest', docs: [{ id: 'a', text: 'refused' }] }, { ok: false, code: 'INVALID_INPUT', message: 'no' });
    h.record(3, { kind: 'delete', ids: ['a'] }, ok);
    h.record(4, { kind: 'reload', dir: '/x', from: 3, source: '/x', savedAt: 't' }, ok);
    expect(h.list('a').map((e) => [e.version, e.kind])).toEqual([
      [1, 'ingest'],
      [3, 'delete'],
    ]);
    expect(h.stateAt('a', 2)).toMatchObject({ kind: 'ingest', doc: { version: 1, text: 'one' } });
    expect(h.stateAt('a', 3)).toMatchObject({ kind: 'delete', version: 3 });
    expect(() => h.stateAt('a', 4)).toThrow(/hot update at version 4/);
    expect(() => h.stateAt('a', 0)).toThrow(/no version at or before 0/);
    expect(() => h.list('b')).toThrow(/no version history/);
  });

  it('cuts off a torn last frame at open and writes after it; a reader follows the writer and waits out a partial frame', async () => {
    dir = await mkdtemp(join(tmpdir(), 'rag-history-'));
    const w = history();
    w.record(1, { kind: 'ingest', docs: [{ id: 'a', text: 'one' }, { id: 'b', text: 'bee' }] }, ok);
    w.record(2, { kind: 'ingest', docs: [{ id: 'a', text: 'two' }] }, ok);
    w.close();
    open.pop();
    const file = join(dir, 'history', 'history.log');
    truncateSync(file, statSync(file).size - 2);
    const w2 = history();
    expect(w2.last).toBe(1);
    expect(w2.list('a').map((e) => e.version)).toEqual([1]);
    w2.record(2, { kind: 'ingest', docs: [{ id: 'a', text: 'two again' }] }, ok);

    const r = history(true);
    expect(r.stateAt('a', 2)).toMatchObject({ kind: 'ingest', doc: { text: 'two again' } });
    w2.record(3, { kind: 'ingest', docs: [{ id: 'a', text: 'three' }] }, ok);
    expect(r.list('a').map((e) => e.version)).toEqual([1, 2, 3]);
    // half a frame (as while the writer writes it): not read yet, and read once complete
    const size = statSync(file).size;
    w2.record(4, { kind: 'ingest', docs: [{ id: 'b', text: 'bee two' }] }, ok);
    const full = statSync(file).size;
    const bytes = readFileSync(file);
    writeFileSync(file, bytes.subarray(0, size + Math.floor((full - size) / 2)));
    expect(r.list('b').map((e) => e.version)).toEqual([1]);
    appendFileSync(file, bytes.subarray(size + Math.floor((full - size) / 2)));
    expect(r.list('b').map((e) => e.version)).toEqual([1, 4]);
    expect(r.stateAt('b', 4)).toMatchObject({ kind: 'ingest', doc: { text: 'bee two' } });
    expect(() => r.record(5, { kind: 'delete', ids: ['a'] }, ok)).toThrow(/read-only/);
  });
});
