import { beforeAll, describe, expect, it } from 'vitest';
import { loadBrown } from '../corpus/brown.ts';
import { isRagError } from '../errors.ts';
import type { Doc } from '../types.ts';
import { createDeltaStore, DELTA, FULL, MemoryBackend, recordKey } from './delta-store.ts';
import { wordDiff } from './diff.ts';
import { createEditModel } from './edits.ts';
import { reachableBytes } from './sizeof.ts';

let docs: Doc[];
let histories: string[][];
const V = 40;

beforeAll(async () => {
  docs = await loadBrown({ limit: 20 });
  const model = createEditModel(docs, 11);
  histories = docs.slice(0, 3).map((d) => model.history(d.text, V));
});

describe('delta store', () => {
  it('gives back every version of every document exactly', () => {
    const store = createDeltaStore({ backend: new MemoryBackend(), checkpointEvery: 8 });
    histories.forEach((h, d) => h.forEach((t, v) => expect(store.append(`doc${d}`, t)).toBe(v)));
    histories.forEach((h, d) => h.forEach((t, v) => expect(store.get(`doc${d}`, v)).toBe(t)));
    expect(store.versions('doc0')).toBe(V);
    expect(store.versions('nope')).toBe(0);
  });

  it('resumes over a backend that outlives it: the next append continues the history, every version reads back', () => {
    const backend = new MemoryBackend();
    const first = createDeltaStore({ backend, checkpointEvery: 8 });
    for (const t of histories[0].slice(0, 13)) first.append('d', t);
    const second = createDeltaStore({ backend, checkpointEvery: 8 });
    second.resume('d', 13);
    expect(second.versions('d')).toBe(13);
    for (const t of histories[0].slice(13)) second.append('d', t);
    // the first append after the resume was a delta against version 12, rebuilt from the backend
    expect(backend.get(recordKey('d', 13))![0]).toBe(DELTA);
    histories[0].forEach((t, v) => expect(second.get('d', v)).toBe(t));
  });

  it('writes a full copy every K versions and a delta in between; reading a version reads at most K records', () => {
    const backend = new MemoryBackend();
    const k = 8;
    const store = createDeltaStore({ backend, checkpointEvery: k, diff: wordDiff });
    for (const t of histories[0]) store.append('d', t);
    for (let v = 0; v < V; v++) expect(backend.get(recordKey('d', v))![0]).toBe(v % k === 0 ? FULL : DELTA);
    for (let v = 0; v < V - 1; v++) {
      backend.reads = 0;
      store.get('d', v);
      expect(backend.reads).toBe((v % k) + 1);
    }
  });

  it('stores a small fraction of the bytes of full copies', () => {
    const backend = new MemoryBackend();
    const store = createDeltaStore({ backend, checkpointEvery: 16 });
    let full = 0;
    for (const h of histories) for (const t of h) full += Buffer.byteLength(t) + 1;
    histories.forEach((h, d) => h.forEach((t) => store.append(`doc${d}`, t)));
    expect(backend.bytes / full).toBeLessThan(0.15);
  });

  it('keeps only the latest text of each document in memory', () => {
    const backend = new MemoryBackend();
    const store = createDeltaStore({ backend, checkpointEvery: 16 });
    histories.forEach((h, d) => h.forEach((t) => store.append(`doc${d}`, t)));
    const latest = histories.reduce((s, h) => s + h[h.length - 1].length, 0);
    expect(reachableBytes(store, { exclude: [backend] })).toBeLessThan(latest + 2_000);
  });

  it('refuses an unknown version, and reports a record missing from the backend as corrupt', () => {
    const backend = new MemoryBackend();
    const store = createDeltaStore({ backend, checkpointEvery: 4 });
    store.append('d', 'one');
    store.append('d', 'one two');
    store.append('d', 'one two three');
    expect(() => store.get('d', 3)).toThrow(/no version 3/);
    expect(() => store.get('x', 0)).toThrow(/no version 0/);
    const broken = createDeltaStore({ backend: { put() {}, get: () => undefined }, checkpointEvery: 4 });
    broken.append('d', 'a');
    broken.append('d', 'b');
    try {
      broken.get('d', 0);
      expect.unreachable();
    } catch (err) {
      expect(isRagError(err, 'CORRUPT')).toBe(true);
    }
    expect(() => createDeltaStore({ backend, checkpointEvery: 0 })).toThrow(/positive integer/);
  });
});
