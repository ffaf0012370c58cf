/**
 * Staged writes (a batch written a slice at a time, invisible until one synchronous reveal) and exact search among
 * given labels: what the engine's bounded-cost ingest and filtered queries stand on (shared/engine.ts).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { gaussian, mulberry32 } from '../util/random.ts';
import { Bm25Index } from './bm25.ts';
import { FlatIndex } from './flat.ts';
import { HnswIndex } from './hnsw.ts';

const WORDS = ['jury', 'court', 'vote', 'city', 'bill', 'tax', 'school', 'team', 'game', 'price', 'war', 'music'];

function randomDocs(n: number, seed: number): string[][] {
  const rand = mulberry32(seed);
  return Array.from({ length: n }, () => Array.from({ length: 3 + Math.floor(rand() * 12) }, () => WORDS[Math.floor(rand() * WORDS.length)]));
}

const QUERIES = [['jury'], ['tax', 'bill'], ['game', 'team', 'war'], ['music', 'price', 'city', 'vote'], ['court', 'court']];

function results(index: Bm25Index) {
  return QUERIES.map((q) => index.search(q, 10));
}

describe('Bm25Index staging', () => {
  const base = randomDocs(60, 1);
  const extra = randomDocs(25, 2);

  it('staged documents are not searchable and change no score until revealed; revealed, they rank as if added', () => {
    const staged = new Bm25Index();
    const before = new Bm25Index();
    const after = new Bm25Index();
    base.forEach((d, l) => {
      staged.add(l, d);
      before.add(l, d);
      after.add(l, d);
    });
    extra.forEach((d, i) => {
      staged.stage(100 + i, d);
      after.add(100 + i, d);
    });
    expect(staged.size).toBe(base.length);
    expect(staged.stats().pendingPostings).toBeGreaterThan(0);
    expect(results(staged)).toEqual(results(before));
    expect(staged.idf('jury')).toBe(before.idf('jury'));
    expect(staged.has(100)).toBe(false);
    extra.forEach((_, i) => staged.reveal(100 + i));
    expect(staged.stats().pendingPostings).toBe(0);
    expect(staged.size).toBe(base.length + extra.length);
    expect(results(staged)).toEqual(results(after));
  });

  it('serializes only live documents while some are staged: the same bytes as an index without them', () => {
    const staged = new Bm25Index();
    const plain = new Bm25Index();
    base.forEach((d, l) => {
      staged.add(l, d);
      plain.add(l, d);
    });
    // a term only the staged document uses must not reach the file either (label 61: inside the same label space,
    // whose size the file records)
    staged.stage(61, ['zeppelin', 'jury']);
    for (let l = 0; l < 10; l++) {
      staged.remove(l);
      plain.remove(l);
    }
    expect(Buffer.from(staged.serialize()).equals(Buffer.from(plain.serialize()))).toBe(true);
    const loaded = Bm25Index.deserialize(staged.serialize());
    expect(results(loaded)).toEqual(results(plain));
    // the staged document survived the compaction serialize ran, and reveals normally
    staged.reveal(61);
    expect(staged.search(['zeppelin'], 5).map((h) => h.label)).toEqual([61]);
  });

  it('discard leaves the index as it was, and compaction keeps staged postings', () => {
    const index = new Bm25Index({ compactRatio: 0.05 });
    const plain = new Bm25Index({ compactRatio: 0.05 });
    base.forEach((d, l) => {
      index.add(l, d);
      plain.add(l, d);
    });
    index.stage(200, extra[0]);
    index.stage(201, extra[1]);
    index.discard(200);
    // removals past the compaction ratio compact the lists while 201 is still staged
    for (let l = 0; l < 20; l++) {
      index.remove(l);
      plain.remove(l);
    }
    expect(index.stats().deadPostings).toBe(0);
    expect(results(index)).toEqual(results(plain));
    index.reveal(201);
    plain.add(201, extra[1]);
    expect(results(index)).toEqual(results(plain));
    expect(() => index.reveal(200)).toThrow(/not staged/);
    expect(() => index.stage(201, ['x'])).toThrow(/already indexed or staged/);
  });
});

describe('Bm25Index.compactSteps', () => {
  it('drops dead postings a slice at a time while the index stays exact, interleaved with adds, removes and staging', () => {
    const docs = randomDocs(300, 8);
    const stepped = new Bm25Index();
    const reference = new Bm25Index();
    stepped.autoCompact = false;
    docs.forEach((d, l) => {
      stepped.add(l, d);
      reference.add(l, d);
    });
    for (let l = 0; l < 150; l += 1) {
      stepped.remove(l);
      reference.remove(l);
    }
    expect(stepped.compactionDue).toBe(true);
    const before = stepped.stats();
    const steps = stepped.compactSteps(50);
    let n = 0;
    const extra = randomDocs(20, 9);
    for (let r = steps.next(); !r.done; r = steps.next(), n++) {
      // between steps: searches are exact, and every kind of write goes on
      expect(results(stepped)).toEqual(results(reference));
      if (n === 2) {
        stepped.remove(200);
        reference.remove(200);
        stepped.stage(1000, extra[0]);
      }
      if (n === 4) {
        stepped.add(1001, extra[1]);
        reference.add(1001, extra[1]);
        stepped.reveal(1000);
        reference.add(1000, extra[0]);
      }
    }
    expect(n).toBeGreaterThan(5);
    expect(results(stepped)).toEqual(results(reference));
    const after = stepped.stats();
    // what was dead when the pass began is gone; label 200, removed during the pass, may still hold some
    expect(after.deadPostings).toBeLessThan(before.deadPostings / 10);
    expect(after.postings - after.deadPostings).toBe(reference.stats().postings - reference.stats().deadPostings);
    // and what it saves (a full compaction) loads back to the same results
    expect(results(Bm25Index.deserialize(stepped.serialize()))).toEqual(results(reference));
    expect(stepped.stats().deadPostings).toBe(0);
  });

  it('stops cleanly when a full compaction runs in the middle of a pass', () => {
    const index = new Bm25Index();
    index.autoCompact = false;
    randomDocs(200, 10).forEach((d, l) => index.add(l, d));
    for (let l = 0; l < 120; l++) index.remove(l);
    const steps = index.compactSteps(20);
    steps.next();
    index.compact();
    for (let r = steps.next(); !r.done; r = steps.next());
    expect(index.stats().deadPostings).toBe(0);
    expect(index.size).toBe(80);
    expect(index.search(['jury'], 200).every((h) => h.label >= 120)).toBe(true);
  });
});

describe('Bm25Index pruning with filters and dead postings', () => {
  it('returns exactly what a full scan returns, for filtered searches over lists holding dead and staged postings', () => {
    const rand = mulberry32(79);
    const word = () => `w${Math.floor(200 * rand() ** 3)}`;
    const docs = Array.from({ length: 3000 }, () => Array.from({ length: 5 + Math.floor(rand() * 60) }, word));
    const pruned = new Bm25Index();
    pruned.autoCompact = false;
    docs.forEach((d, l) => pruned.add(l, d));
    // reference: every list out of order, so it never prunes
    const scanned = new Bm25Index();
    scanned.autoCompact = false;
    for (let l = docs.length - 1; l >= 0; l--) scanned.add(l, docs[l]);
    for (let l = 0; l < docs.length; l += 7) {
      pruned.remove(l);
      scanned.remove(l);
    }
    pruned.stage(5000, docs[1]);
    scanned.stage(5000, docs[1]);
    const before = pruned.prunedSearches;
    for (let i = 0; i < 300; i++) {
      const q = [`w${Math.floor(rand() * 5)}`, `w${20 + Math.floor(rand() * 180)}`];
      const mod = 2 + (i % 5);
      const filter = i % 4 === 0 ? undefined : (l: number) => l % mod !== 0;
      for (const k of [1, 10]) expect(pruned.search(q, k, filter)).toEqual(scanned.search(q, k, filter));
    }
    expect(scanned.prunedSearches).toBe(0);
    expect(pruned.prunedSearches - before).toBeGreaterThan(100);
  });
});

const DIM = 16;
function vectors(n: number, seed: number): Float32Array[] {
  const g = gaussian(mulberry32(seed));
  return Array.from({ length: n }, () => Float32Array.from({ length: DIM }, g));
}

describe('HnswIndex staging and exact search among labels', () => {
  let dir: string | undefined;
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });
  const data = vectors(400, 3);
  const fresh = vectors(50, 4);
  const labels = (from: number, n: number) => Array.from({ length: n }, (_, i) => from + i);

  it('never returns staged labels, returns them once revealed, and drops discarded ones for good', () => {
    const index = new HnswIndex({ dim: DIM, seed: 1 });
    index.add(labels(0, 400), data);
    index.stage(labels(1000, 50), fresh);
    expect(index.size).toBe(400);
    expect(index.staged).toBe(50);
    for (const q of fresh.slice(0, 10)) {
      for (const h of index.search(q, 20)) expect(h.label).toBeLessThan(1000);
      for (const h of index.search(q, 20, (l) => l % 2 === 0)) expect(h.label % 2 === 0 && h.label < 1000).toBe(true);
    }
    index.reveal(labels(1000, 25));
    index.discard(labels(1025, 25));
    expect(index.size).toBe(425);
    // a revealed vector is its own nearest neighbour: staged points were linked into the graph
    for (let i = 0; i < 25; i++) expect(index.search(fresh[i], 1)[0].label).toBe(1000 + i);
    for (const q of fresh.slice(25)) for (const h of index.search(q, 30)) expect(h.label < 1025).toBe(true);
  });

  it('saves staged labels as deleted: a loaded index never returns them', async () => {
    dir = await mkdtemp(join(tmpdir(), 'rag-staging-'));
    const index = new HnswIndex({ dim: DIM, seed: 1 });
    index.add(labels(0, 400), data);
    index.stage(labels(1000, 50), fresh);
    await index.save(join(dir, 'h.bin'));
    const loaded = new HnswIndex({ dim: DIM });
    await loaded.load(join(dir, 'h.bin'));
    expect(loaded.size).toBe(400);
    for (const q of fresh) for (const h of loaded.search(q, 30)) expect(h.label).toBeLessThan(1000);
  });

  it('searchAmong ranks the given live labels exactly, like a flat index', () => {
    const index = new HnswIndex({ dim: DIM, seed: 1 });
    const flat = new FlatIndex(DIM);
    index.add(labels(0, 400), data);
    flat.add(labels(0, 400), data);
    index.remove([7, 8]);
    const among = Int32Array.from([3, 7, 8, 50, 51, 52, 120, 121, 399, 12345]);
    const allowed = new Set([3, 50, 51, 52, 120, 121, 399]);
    for (const q of fresh.slice(0, 10)) {
      const got = index.searchAmong(q, among, 5);
      const want = flat.search(q, 5, (l) => allowed.has(l));
      expect(got.map((h) => h.label)).toEqual(want.map((h) => h.label));
      got.forEach((h, i) => expect(h.score).toBeCloseTo(want[i].score, 5));
    }
    expect(index.searchAmong(fresh[0], new Int32Array(0), 5)).toEqual([]);
  });
});

describe('FlatIndex.searchAmong', () => {
  it('returns exactly what search with a filter passing those labels returns', () => {
    const flat = new FlatIndex(DIM);
    const data = vectors(300, 5);
    flat.add(Array.from({ length: 300 }, (_, i) => i), data);
    flat.remove([10, 20, 30]); // rows move: search order is row order, not label order
    const rand = mulberry32(6);
    for (const q of vectors(20, 7)) {
      const among = Int32Array.from({ length: 40 }, () => Math.floor(rand() * 320)).sort();
      const set = new Set(among);
      expect(flat.searchAmong(q, among, 8)).toEqual(flat.search(q, 8, (l) => set.has(l)));
    }
  });
});
