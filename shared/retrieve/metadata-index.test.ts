import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../util/random.ts';
import type { Chunk, MetaValue, Metadata } from '../types.ts';
import { compileFilter, type MetadataFilter } from './filter.ts';
import { MetadataIndex } from './metadata-index.ts';

/** Values that look alike across types (1, '1', true, 'true', 0, '0', false), so type confusion would show. */
const VALUES: MetaValue[] = ['news', 'editorial', 'fiction', '1', 1, 2, 0, '0', true, false, 'true', '', 1961, '1961', -0];
const FIELDS = ['genre', 'year', 'lang', 'draft', 'constructor', 'toString', '__proto__', 'docId'];

function randomMetadata(rand: () => number): Metadata {
  const m: Metadata = {};
  for (const f of FIELDS) {
    if (rand() < 0.45) continue;
    // an own "__proto__" key, as JSON.parse makes it
    Object.defineProperty(m, f, { value: VALUES[Math.floor(rand() * VALUES.length)], enumerable: true, writable: true, configurable: true });
  }
  return m;
}

function randomFilter(rand: () => number, docIds: string[]): MetadataFilter {
  const f: MetadataFilter = {};
  const keys = 1 + Math.floor(rand() * 3);
  for (let i = 0; i < keys; i++) {
    const key = rand() < 0.15 ? 'docId' : rand() < 0.1 ? 'missing' : FIELDS[Math.floor(rand() * FIELDS.length)];
    const pick = (): MetaValue =>
      key === 'docId' && rand() < 0.7 ? docIds[Math.floor(rand() * docIds.length)] : VALUES[Math.floor(rand() * VALUES.length)];
    const v = rand() < 0.4 ? Array.from({ length: 1 + Math.floor(rand() * 4) }, pick) : pick();
    Object.defineProperty(f, key, { value: v, enumerable: true, writable: true, configurable: true });
  }
  return f;
}

describe('MetadataIndex', () => {
  it('matches exactly the chunks compileFilter accepts, on randomized chunks, filters and removals', () => {
    const rand = mulberry32(20261130);
    const chunks: (Chunk | undefined)[] = [];
    const docIds: string[] = [];
    const index = new MetadataIndex((label) => chunks[label]);
    let label = 0;
    const addDoc = (n: number) => {
      const docId = `doc/${docIds.length}`;
      docIds.push(docId);
      const metadata = randomMetadata(rand);
      for (let p = 0; p < n; p++) {
        const c: Chunk = { id: `${docId}#${p}`, docId, position: p, text: 't', tokens: 1, metadata: { ...metadata } };
        chunks[label] = c;
        index.add(label++, c);
      }
    };
    const removeDoc = (docId: string) => {
      chunks.forEach((c, l) => {
        if (c?.docId !== docId) return;
        chunks[l] = undefined;
        index.remove(c);
      });
    };
    let compared = 0;
    let matched = 0;
    for (let round = 0; round < 40; round++) {
      for (let d = 0; d < 15; d++) addDoc(1 + Math.floor(rand() * 4));
      for (let d = 0; d < 6; d++) removeDoc(docIds[Math.floor(rand() * docIds.length)]);
      for (let q = 0; q < 25; q++) {
        const filter = randomFilter(rand, docIds);
        const test = compileFilter(filter);
        const expected: number[] = [];
        chunks.forEach((c, l) => {
          if (c !== undefined && test(c)) expected.push(l);
        });
        const got = index.match(filter, test);
        expect(Array.from(got.labels), JSON.stringify(filter)).toEqual(expected);
        compared++;
        if (expected.length > 0) matched++;
      }
    }
    expect(compared).toBe(1000);
    // both kinds are exercised: filters that match some chunks and filters that match none
    expect(matched).toBeGreaterThan(200);
    expect(matched).toBeLessThan(900);
  });

  it('answers a filter no chunk can match without looking at any chunk', () => {
    const chunks: Chunk[] = [];
    const index = new MetadataIndex((l) => chunks[l]);
    for (let l = 0; l < 1000; l++) {
      chunks[l] = { id: `c${l}`, docId: `d${l % 50}`, position: 0, text: '', tokens: 0, metadata: { genre: l % 2 ? 'news' : 'fiction', year: 1961 } };
      index.add(l, chunks[l]);
    }
    const calls = { n: 0 };
    const test = (c: Chunk) => (calls.n++, compileFilter({ genre: 'poetry' })(c));
    for (const filter of [{ genre: 'poetry' }, { genre: 'news', year: '1961' }, { docId: 'nope' }, { missing: 1 }, { genre: ['a', 'b'] }] as MetadataFilter[]) {
      const m = index.match(filter, test);
      expect(m.labels.length, JSON.stringify(filter)).toBe(0);
      expect(m.examined, JSON.stringify(filter)).toBe(0);
    }
    expect(calls.n).toBe(0);
    // a selective key drives: a document's 20 chunks are looked at, not the 1000
    const m = index.match({ genre: 'news', docId: 'd3' }, compileFilter({ genre: 'news', docId: 'd3' }));
    expect(m.examined).toBe(20);
    expect(m.labels.length).toBe(20);
  });

  it('drops removed labels from a list once half of it is dead, and keeps lists sorted when labels come out of order', () => {
    const chunks: (Chunk | undefined)[] = [];
    const index = new MetadataIndex((l) => chunks[l]);
    const order = [5, 1, 9, 3, 7, 0, 2];
    for (const l of order) {
      chunks[l] = { id: `c${l}`, docId: 'd', position: 0, text: '', tokens: 0, metadata: { g: 'x' } };
      index.add(l, chunks[l]!);
    }
    expect(Array.from(index.match({ g: 'x' }, compileFilter({ g: 'x' })).labels)).toEqual([0, 1, 2, 3, 5, 7, 9]);
    for (const l of order) {
      const c = chunks[l]!;
      chunks[l] = undefined;
      index.remove(c);
    }
    expect(index.postings).toBe(0);
    expect(index.match({ g: 'x' }, compileFilter({ g: 'x' })).examined).toBe(0);
  });
});
