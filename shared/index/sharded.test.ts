import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadBrown } from '../corpus/brown.ts';
import { chunkDocument, indexText } from '../corpus/chunk.ts';
import { defaultAnalyzer } from '../text/analyzer.ts';
import { splitSentences } from '../text/sentences.ts';
import { gaussian, mulberry32 } from '../util/random.ts';
import { Bm25Index } from './bm25.ts';
import { FlatIndex } from './flat.ts';
import { Bm25Shard, collectionStats, mergeTopK, queryStats, shardOf, ShardedIndex, ShardWorker } from './sharded.ts';

/** Brown chunks (title + text, analysed) and real sentences as queries. */
async function brownSample(docs: number, queries: number) {
  const ds = await loadBrown({ limit: docs });
  const texts = ds.flatMap((d) => chunkDocument(d)).map(indexText);
  const tokens = texts.map((t) => defaultAnalyzer.analyze(t));
  const sentences = ds.flatMap((d) => splitSentences(d.text)).filter((s) => s.split(/\s+/).length >= 4);
  const rand = mulberry32(5);
  const qs: string[][] = [];
  while (qs.length < queries) {
    const q = defaultAnalyzer.analyze(sentences[Math.floor(rand() * sentences.length)]);
    if (q.length > 0) qs.push(q);
  }
  return { texts, tokens, queries: qs };
}

function partition(n: number, shards: number): number[][] {
  const parts = Array.from({ length: shards }, () => [] as number[]);
  for (let l = 0; l < n; l++) parts[shardOf(l, shards)].push(l);
  return parts;
}

describe('shardOf', () => {
  it('puts every label in one shard in range, the same one every time', () => {
    for (let l = 0; l < 1000; l++) {
      const s = shardOf(l, 3);
      expect(s).toBeGreaterThanOrEqual(0);
      expect(s).toBeLessThan(3);
      expect(shardOf(l, 3)).toBe(s);
    }
  });

  it.each([2, 3, 4, 8])('spreads 10,000 consecutive labels evenly over %i shards (within 5%%)', (n) => {
    const counts = new Array(n).fill(0);
    for (let l = 0; l < 10_000; l++) counts[shardOf(l, n)]++;
    for (const c of counts) expect(Math.abs(c - 10_000 / n)).toBeLessThan(0.05 * (10_000 / n));
  });
});

describe('mergeTopK', () => {
  it('takes the k best of all lists by score, ties to the lower label', () => {
    const a = [
      { label: 4, score: 9 },
      { label: 2, score: 5 },
      { label: 8, score: 1 },
    ];
    const b = [
      { label: 1, score: 7 },
      { label: 3, score: 5 },
    ];
    expect(mergeTopK([a, b], 4)).toEqual([
      { label: 4, score: 9 },
      { label: 1, score: 7 },
      { label: 2, score: 5 },
      { label: 3, score: 5 },
    ]);
    expect(mergeTopK([[], b], 10)).toEqual(b);
  });
});

describe('Bm25Shard', () => {
  let sample: Awaited<ReturnType<typeof brownSample>>;
  let whole: Bm25Index;
  beforeAll(async () => {
    sample = await brownSample(30, 40);
    whole = new Bm25Index();
    sample.tokens.forEach((t, i) => whole.add(i, t));
  });

  it('without statistics ranks exactly like a Bm25Index of the same documents (scores bit for bit)', () => {
    const shard = Bm25Shard.build(
      sample.tokens.map((_, i) => i),
      sample.tokens,
    );
    for (const q of sample.queries) expect(shard.search(q, 10)).toEqual(whole.search(q, 10));
  });

  it.each([2, 3, 4])('%i shards scored with the collection statistics and merged equal one Bm25Index', (n) => {
    const parts = partition(sample.texts.length, n);
    const shards = parts.map((p) => Bm25Shard.build(p, p.map((l) => sample.tokens[l])));
    const stats = collectionStats(shards.map((s) => s.termStats()));
    expect(stats.docs).toBe(sample.texts.length);
    for (const q of sample.queries) {
      const qs = queryStats(stats, q);
      expect(mergeTopK(shards.map((s) => s.search(q, 10, qs)), 10)).toEqual(whole.search(q, 10));
    }
  });

  it('scored with their own statistics, shards rank like separate indexes, not like the collection', () => {
    const parts = partition(sample.texts.length, 2);
    const shards = parts.map((p) => Bm25Shard.build(p, p.map((l) => sample.tokens[l])));
    // each shard alone is a Bm25Index of its own documents
    const alone = new Bm25Index();
    for (const l of parts[0]) alone.add(l, sample.tokens[l]);
    let differ = 0;
    for (const q of sample.queries) {
      const own = mergeTopK(shards.map((s) => s.search(q, 10)), 10);
      if (JSON.stringify(own) !== JSON.stringify(whole.search(q, 10))) differ++;
      expect(shards[0].search(q, 10)).toEqual(alone.search(q, 10));
    }
    expect(differ).toBe(sample.queries.length);
  });

  it('gives equal scores at the cut to the lowest labels, like Bm25Index', () => {
    const docs = Array.from({ length: 40 }, (_, i) => (i % 3 === 0 ? ['rare', 'word'] : ['other', 'word', `w${i}`]));
    const index = new Bm25Index();
    docs.forEach((d, i) => index.add(i, d));
    const parts = partition(docs.length, 3);
    const shards = parts.map((p) => Bm25Shard.build(p, p.map((l) => docs[l])));
    const stats = collectionStats(shards.map((s) => s.termStats()));
    for (const k of [1, 5, 13, 20]) {
      const want = index.search(['rare'], k);
      expect(mergeTopK(shards.map((s) => s.search(['rare'], k, queryStats(stats, ['rare']))), k)).toEqual(want);
      expect(want.map((h) => h.label)).toEqual([0, 3, 6, 9, 12, 15, 18, 21, 24, 27, 30, 33, 36, 39].slice(0, k));
    }
  });

  it('returns nothing for an empty query or unknown terms, and rejects a bad k, a repeated label or bad parameters', () => {
    const shard = Bm25Shard.build([0, 1], [['war', 'ended'], ['peace']]);
    expect(shard.search([], 5)).toEqual([]);
    expect(shard.search(['zzzunknownzzz'], 5)).toEqual([]);
    expect(() => shard.search(['war'], 0)).toThrow(/k must be a positive integer/);
    expect(() => Bm25Shard.build([3, 3], [['a'], ['b']])).toThrow(/label 3 given twice/);
    expect(() => Bm25Shard.build([1], [['a']], { b: 2 })).toThrow(/b must be between 0 and 1/);
    expect(Bm25Shard.build([1], [['a']], { k1: 2, b: 0.5 })).toMatchObject({ k1: 2, b: 0.5, docs: 1, totalLength: 1 });
  });

  it('updated (labels removed, labels added, in several steps) still equals a Bm25Index given the same writes, alone and sharded', () => {
    const n = sample.texts.length;
    const first = Math.floor(n * 0.6);
    const index = new Bm25Index();
    for (let l = 0; l < first; l++) index.add(l, sample.tokens[l]);
    const parts = partition(first, 3);
    let shards = parts.map((p) => Bm25Shard.build(p, p.map((l) => sample.tokens[l])));
    let alone = Bm25Shard.build(
      Array.from({ length: first }, (_, l) => l),
      sample.tokens.slice(0, first),
    );
    // three writes: remove every 4th old label and add a third of the rest, then the rest, then remove a few new ones
    const steps: { remove: number[]; add: number[] }[] = [
      { remove: Array.from({ length: first }, (_, l) => l).filter((l) => l % 4 === 1), add: Array.from({ length: Math.floor((n - first) / 3) }, (_, i) => first + i) },
      { remove: [], add: Array.from({ length: n - first - Math.floor((n - first) / 3) }, (_, i) => first + Math.floor((n - first) / 3) + i) },
      { remove: [first, first + 2, 0, 9_999 /* not held: ignored */], add: [] },
    ];
    for (const step of steps) {
      for (const l of step.remove) index.remove(l);
      for (const l of step.add) index.add(l, sample.tokens[l]);
      alone = alone.update(step.remove, step.add, step.add.map((l) => sample.tokens[l]));
      shards = shards.map((s, i) => {
        const mine = step.add.filter((l) => shardOf(l, 3) === i);
        return s.update(step.remove, mine, mine.map((l) => sample.tokens[l]));
      });
      const stats = collectionStats(shards.map((s) => s.termStats()));
      expect(stats.docs).toBe(alone.docs);
      for (const q of sample.queries) {
        const want = index.search(q, 10);
        expect(alone.search(q, 10)).toEqual(want);
        expect(mergeTopK(shards.map((s) => s.search(q, 10, queryStats(stats, q))), 10)).toEqual(want);
      }
    }
    expect(alone.has(0)).toBe(false);
    expect(alone.has(1)).toBe(false);
    expect(alone.has(2)).toBe(true);
    // a term only removed documents held is gone from the statistics (a df of 0 would make a shard refuse the query)
    const tiny = Bm25Shard.build([0, 1], [['war', 'ended'], ['peace']]).update([1], [5], [['war']]);
    expect(tiny.termStats()).toEqual({ docs: 2, totalLength: 3, terms: ['war', 'ended'], df: Int32Array.from([2, 1]) });
    expect(() => tiny.update([], [0], [['again']])).toThrow(/label 0 is held already/);
    expect(() => tiny.update([], [1, 1], [['a'], ['b']])).toThrow(/label 1 is held already/);
    expect(tiny.update([0], [0], [['again']]).search(['again'], 5).map((h) => h.label)).toEqual([0]);
  });

  it('with other parameters still ranks like a Bm25Index with them', () => {
    const opts = { k1: 0.9, b: 0.4 };
    const index = new Bm25Index(opts);
    sample.tokens.forEach((t, i) => index.add(i, t));
    const parts = partition(sample.texts.length, 2);
    const shards = parts.map((p) => Bm25Shard.build(p, p.map((l) => sample.tokens[l]), opts));
    const stats = collectionStats(shards.map((s) => s.termStats()));
    for (const q of sample.queries.slice(0, 10)) {
      expect(mergeTopK(shards.map((s) => s.search(q, 10, queryStats(stats, q))), 10)).toEqual(index.search(q, 10));
    }
  });
});

describe('ShardedIndex (worker threads)', () => {
  const dim = 16;
  let sample: Awaited<ReturnType<typeof brownSample>>;
  let matrix: Float32Array;
  let sharded: ShardedIndex | undefined;

  beforeAll(async () => {
    sample = await brownSample(25, 25);
    const g = gaussian(mulberry32(9));
    matrix = new Float32Array(new SharedArrayBuffer(sample.texts.length * dim * 4));
    for (let i = 0; i < matrix.length; i++) matrix[i] = g();
    // a few identical rows, so the dense merge meets ties
    for (let r = 1; r < 6; r++) matrix.copyWithin(r * 40 * dim, 0, dim);
  });
  afterAll(async () => {
    await sharded?.close();
  });

  it('returns exactly what one Bm25Index and one FlatIndex return', async () => {
    const n = sample.texts.length;
    sharded = await ShardedIndex.open({ labels: Array.from({ length: n }, (_, i) => i), texts: sample.texts, vectors: { matrix, dim } }, { shards: 2 });
    expect(sharded.info.reduce((s, i) => s + i.docs, 0)).toBe(n);
    const bm25 = new Bm25Index();
    sample.tokens.forEach((t, i) => bm25.add(i, t));
    const flat = new FlatIndex({ dim });
    flat.add(
      Array.from({ length: n }, (_, i) => i),
      Array.from({ length: n }, (_, i) => matrix.subarray(i * dim, (i + 1) * dim)),
    );
    for (let i = 0; i < sample.queries.length; i++) {
      const row = (i * 37) % n; // row 0 first: five more rows equal it
      const vector = matrix.slice(row * dim, (row + 1) * dim);
      const got = await sharded.search({ tokens: sample.queries[i], vector }, 10);
      expect(got.text).toEqual(bm25.search(sample.queries[i], 10));
      expect(got.dense).toEqual(flat.search(vector, 10));
    }
    await expect(sharded.search({ tokens: ['war'] }, 0)).rejects.toThrow(/k must be a positive integer/);
  });

  it('reports an error raised in the thread as a rejected request, and refuses requests once closed', async () => {
    const w = await ShardWorker.start();
    try {
      await w.load({ labels: Int32Array.from([0, 1]), texts: ['the war ended', 'peace came'] });
      expect((await w.search({ k: 1, tokens: ['war'] })).text.map((h) => h.label)).toEqual([0]);
      await expect(w.search({ k: -1, tokens: ['war'] })).rejects.toThrow(/k must be a positive integer/);
    } finally {
      await w.close();
    }
    await expect(w.search({ k: 1, tokens: ['war'] })).rejects.toThrow(/closed/);
  });
});
