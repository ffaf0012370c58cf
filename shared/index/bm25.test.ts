import { describe, expect, it } from 'vitest';
import { judgedQueries, loadBeir } from '../corpus/beir.ts';
import { findDataset } from '../util/paths.ts';
import { RagError } from '../errors.ts';
import { mrrAt, ndcgAt, recallAt } from '../eval/metrics.ts';
import { defaultAnalyzer } from '../text/analyzer.ts';
import { mulberry32 } from '../util/random.ts';
import { Bm25Index } from './bm25.ts';

describe('Bm25Index scoring', () => {
  // k1 = 1.2, b = 0.75; N = 3, avgLen = 3
  const index = new Bm25Index({ k1: 1.2, b: 0.75 });
  index.add(0, ['a', 'b', 'a']);
  index.add(1, ['b', 'c']);
  index.add(2, ['c', 'c', 'c', 'd']);

  it('matches hand-computed BM25 scores', () => {
    const idfA = Math.log(1 + (3 - 1 + 0.5) / (1 + 0.5)); // ln(8/3)
    const idfBC = Math.log(1 + (3 - 2 + 0.5) / (2 + 0.5)); // ln(1.6)
    // norm = k1 (1 - b + b len / avgLen): len 3 → 1.2, len 2 → 0.9, len 4 → 1.5
    const [hit] = index.search(['a'], 10);
    expect(hit.label).toBe(0);
    expect(hit.score).toBeCloseTo((idfA * 2 * 2.2) / (2 + 1.2), 5);

    const hits = index.search(['b', 'c'], 10);
    expect(hits.map((h) => h.label)).toEqual([1, 2, 0]);
    expect(hits[0].score).toBeCloseTo(2 * ((idfBC * 2.2) / (1 + 0.9)), 5);
    expect(hits[1].score).toBeCloseTo((idfBC * 3 * 2.2) / (3 + 1.5), 5);
    expect(hits[2].score).toBeCloseTo((idfBC * 2.2) / (1 + 1.2), 5);
    expect(index.idf('a')).toBeCloseTo(idfA, 12);
    expect(index.idf('zzz')).toBe(0);
  });

  it('counts a repeated query term once per occurrence, ignores unknown terms, cuts at k', () => {
    const once = index.search(['a'], 1)[0].score;
    expect(index.search(['a', 'a', 'unknown'], 1)[0].score).toBeCloseTo(2 * once, 5);
    expect(index.search(['b', 'c'], 2).map((h) => h.label)).toEqual([1, 2]);
    expect(index.search(['unknown'], 5)).toEqual([]);
    expect(index.search([], 5)).toEqual([]);
  });

  it('applies a label filter during search', () => {
    expect(index.search(['b', 'c'], 10, (l) => l !== 1).map((h) => h.label)).toEqual([2, 0]);
    expect(index.search(['b', 'c'], 1, (l) => l === 0).map((h) => h.label)).toEqual([0]);
  });

  it('rejects bad input with RagError', () => {
    expect(() => index.search(['a'], 0)).toThrow(RagError);
    expect(() => index.add(-1, ['a'])).toThrow(/label must be an integer/);
    expect(() => index.add(1.5, ['a'])).toThrow(RagError);
    expect(() => new Bm25Index({ b: 2 })).toThrow(/b must be between 0 and 1/);
  });
});

/** A random corpus over a Zipf-ish vocabulary, and random queries, from a seed. */
function corpus(seed: number, docs: number, vocab = 200) {
  const rand = mulberry32(seed);
  const word = () => `w${Math.floor(vocab * rand() ** 2)}`;
  const doc = () => Array.from({ length: 5 + Math.floor(rand() * 40) }, word);
  return {
    docs: Array.from({ length: docs }, doc),
    doc,
    queries: Array.from({ length: 60 }, () => Array.from({ length: 1 + Math.floor(rand() * 4) }, word)),
    rand,
  };
}

function fresh(live: Map<number, string[]>): Bm25Index {
  const index = new Bm25Index();
  for (const [label, tokens] of [...live].sort((a, b) => a[0] - b[0])) index.add(label, tokens);
  return index;
}

function expectSameResults(a: Bm25Index, b: Bm25Index, queries: string[][]): void {
  expect(a.size).toBe(b.size);
  for (const q of queries) expect(a.search(q, 20)).toEqual(b.search(q, 20));
}

describe('Bm25Index updates, deletes and compaction', () => {
  for (const compactRatio of [1, 0.25]) {
    it(`gives the same results as a freshly built index (compactRatio ${compactRatio})`, () => {
      const { docs, doc, queries, rand } = corpus(11, 400);
      const index = new Bm25Index({ compactRatio });
      const live = new Map<number, string[]>();
      docs.forEach((tokens, label) => {
        index.add(label, tokens);
        live.set(label, tokens);
      });
      for (let step = 0; step < 600; step++) {
        const label = Math.floor(rand() * 450);
        const r = rand();
        if (r < 0.45) {
          expect(index.remove(label)).toBe(live.delete(label));
        } else if (r < 0.95) {
          const tokens = doc(); // an update when the label is live, a re-add when it was removed
          index.add(label, tokens);
          live.set(label, tokens);
        } else {
          index.compact();
          expect(index.stats().deadPostings).toBe(0);
        }
        expect(index.has(label)).toBe(live.has(label));
      }
      if (compactRatio === 1) expect(index.stats().deadPostings).toBeGreaterThan(0);
      expectSameResults(index, fresh(live), queries);
      index.compact();
      expect(index.stats()).toEqual(fresh(live).stats());
      expectSameResults(index, fresh(live), queries);
    });
  }

  it('compacts by itself once dead postings pass compactRatio', () => {
    const { docs } = corpus(5, 100);
    const index = new Bm25Index({ compactRatio: 0.25 });
    docs.forEach((t, l) => index.add(l, t));
    for (let l = 0; l < 20; l++) index.remove(l);
    expect(index.stats().deadPostings).toBeGreaterThan(0);
    for (let l = 20; l < 40; l++) index.remove(l);
    expect(index.stats().deadPostings).toBeLessThan(0.25 * index.stats().postings + 1);
    expect(index.remove(5)).toBe(false);
    expect(index.size).toBe(60);
  });

  it('filters results like a post-filter over the full ranking', () => {
    const { docs, queries } = corpus(3, 300);
    const index = fresh(new Map(docs.map((t, l) => [l, t])));
    const even = (l: number) => l % 2 === 0;
    for (const q of queries) {
      const full = index.search(q, 300).filter((h) => even(h.label));
      const all = full.slice(0, 10);
      const filtered = index.search(q, 10, even);
      expect(filtered).toEqual(all); // equal scores at the cut resolve to the lowest labels in both
    }
  });
});

describe('Bm25Index serialization', () => {
  it('round-trips to identical results, and the copy keeps working', () => {
    const { docs, doc, queries } = corpus(21, 300);
    const index = new Bm25Index({ k1: 1.1, b: 0.6, compactRatio: 1 });
    const live = new Map<number, string[]>();
    docs.forEach((t, l) => {
      index.add(l, t);
      live.set(l, t);
    });
    for (let l = 0; l < 300; l += 7) {
      index.remove(l);
      live.delete(l);
    }
    const before = queries.map((q) => index.search(q, 20));
    const copy = Bm25Index.deserialize(index.serialize());
    expect(copy.k1).toBe(1.1);
    expect(copy.b).toBe(0.6);
    expect(copy.size).toBe(index.size);
    expect(queries.map((q) => copy.search(q, 20))).toEqual(before);
    expect(copy.has(7)).toBe(false);
    expect(copy.has(8)).toBe(true);
    // unaligned input is fine
    const bytes = index.serialize();
    const shifted = new Uint8Array(bytes.length + 1).subarray(1);
    shifted.set(bytes);
    expect(queries.map((q) => Bm25Index.deserialize(shifted).search(q, 20))).toEqual(before);
    // mutate the copy: still equal to a fresh build
    for (let l = 1; l < 300; l += 5) {
      copy.remove(l);
      live.delete(l);
    }
    const t = doc();
    copy.add(3, t);
    live.set(3, t);
    const expected = new Bm25Index({ k1: 1.1, b: 0.6 });
    for (const [l, tokens] of [...live].sort((a, b) => a[0] - b[0])) expected.add(l, tokens);
    expectSameResults(copy, expected, queries);
  });

  it('rejects bytes that are not an index', () => {
    expect(() => Bm25Index.deserialize(new Uint8Array(4))).toThrow(/too short/);
    expect(() => Bm25Index.deserialize(new Uint8Array(64))).toThrow(/bad magic/);
    const bytes = new Bm25Index().serialize();
    const err = (() => {
      try {
        Bm25Index.deserialize(bytes.subarray(0, bytes.length - 1));
      } catch (e) {
        return e as RagError;
      }
    })();
    expect(err?.code).toBe('CORRUPT');
    expect(Bm25Index.deserialize(bytes).size).toBe(0);
  });
});

const cranfield = findDataset('cranfield');
if (!cranfield) console.warn('cranfield dataset not found (set LAB_DATASETS or add ../shared/datasets/cranfield): skipping');

describe.skipIf(!cranfield)('Bm25Index on Cranfield', () => {
  it('reaches nDCG@10 >= 0.37 with the default analyzer and parameters', async () => {
    const { docs, queries, qrels } = await loadBeir(cranfield!);
    const index = new Bm25Index();
    docs.forEach((d, label) => index.add(label, defaultAnalyzer.analyze(`${d.title ?? ''} ${d.text}`)));
    const judged = judgedQueries(queries, qrels);
    expect(judged).toHaveLength(225);
    let ndcg = 0;
    let recall = 0;
    let mrr = 0;
    for (const q of judged) {
      const ranked = index.search(defaultAnalyzer.analyze(q.text), 100).map((h) => docs[h.label].id);
      const grades = qrels.get(q.id)!;
      ndcg += ndcgAt(10, ranked, grades);
      recall += recallAt(100, ranked, grades);
      mrr += mrrAt(10, ranked, grades);
    }
    const n = judged.length;
    console.log(
      `Cranfield BM25 k1=${index.k1} b=${index.b}: nDCG@10 ${(ndcg / n).toFixed(4)}, Recall@100 ${(recall / n).toFixed(4)}, MRR@10 ${(mrr / n).toFixed(4)}`,
    );
    expect(ndcg / n).toBeGreaterThanOrEqual(0.37);
    expect(recall / n).toBeGreaterThanOrEqual(0.7);
  });
});

describe('Bm25Index serialization of a small index', () => {
  it('round-trips an index whose label space needs fewer live-bitmap words than it holds', () => {
    const index = new Bm25Index();
    index.add(0, ['alpha', 'beta']);
    index.add(1, ['beta', 'gamma', 'gamma']);
    index.add(2, ['delta']);
    const copy = Bm25Index.deserialize(index.serialize());
    expect(copy.size).toBe(3);
    expect(copy.search(['gamma', 'beta'], 3)).toEqual(index.search(['gamma', 'beta'], 3));
  });
});

describe('Bm25Index pruning of the commonest term', () => {
  it('returns exactly what a full scan returns (labels and scores, bit for bit)', () => {
    const rand = mulberry32(77);
    // Zipf-like words: w0 is in most documents, w150 in a few
    const word = () => `w${Math.floor(200 * rand() ** 3)}`;
    const docs = Array.from({ length: 3000 }, () => Array.from({ length: 5 + Math.floor(rand() * 60) }, word));
    const sorted = new Bm25Index();
    docs.forEach((d, l) => sorted.add(l, d));
    // the same documents added from the highest label down: every list out of order, so nothing can be pruned
    const scanned = new Bm25Index();
    for (let l = docs.length - 1; l >= 0; l--) scanned.add(l, docs[l]);
    const queries: string[][] = [];
    for (let i = 0; i < 300; i++) {
      const rare = `w${20 + Math.floor(rand() * 180)}`;
      const common = `w${Math.floor(rand() * 5)}`;
      queries.push(i % 3 === 0 ? [common, rare] : i % 3 === 1 ? [rare, common, `w${Math.floor(rand() * 40)}`] : [common, common, rare]);
    }
    for (const k of [1, 5, 30]) {
      for (const q of queries) expect(sorted.search(q, k)).toEqual(scanned.search(q, k));
    }
    expect(scanned.prunedSearches).toBe(0);
    expect(sorted.prunedSearches).toBeGreaterThan(300);
  });

  it('stays exact after deletes and re-adds, and after compaction', () => {
    const rand = mulberry32(78);
    const word = () => `w${Math.floor(150 * rand() ** 3)}`;
    const docs = new Map<number, string[]>();
    const index = new Bm25Index({ compactRatio: 1 });
    for (let l = 0; l < 2000; l++) {
      const d = Array.from({ length: 5 + Math.floor(rand() * 50) }, word);
      docs.set(l, d);
      index.add(l, d);
    }
    for (let l = 0; l < 2000; l += 9) {
      index.remove(l);
      docs.delete(l);
    }
    for (let l = 3; l < 2000; l += 50) {
      const d = Array.from({ length: 20 }, word);
      index.add(l, d); // re-added below the lists' last labels: those lists lose their sorted flag
      docs.set(l, d);
    }
    const queries = Array.from({ length: 200 }, () => [`w${Math.floor(rand() * 4)}`, `w${20 + Math.floor(rand() * 130)}`]);
    const check = () => {
      const ref = fresh(docs);
      for (const q of queries) expect(index.search(q, 10)).toEqual(ref.search(q, 10));
    };
    check();
    index.compact();
    check();
  });
});

describe('Bm25Index compressed postings', () => {
  it('a loaded index holds its postings compressed and no forward lists, and stays exact through removals (with tokens or without), adds and compaction', () => {
    const { docs, doc, queries } = corpus(31, 2000, 400);
    const built = new Bm25Index();
    built.autoCompact = false;
    docs.forEach((t, l) => built.add(l, t));
    const loaded = Bm25Index.deserialize(built.serialize());
    loaded.autoCompact = false;
    const parts = Object.fromEntries(loaded.memory().map((p) => [p.part, p.bytes]));
    const postings = loaded.stats().postings;
    expect(parts['postings (compressed)'] / postings).toBeLessThan(2); // bytes a posting, skip entries included
    expect(parts['postings (tails)']).toBe(0);
    expect(parts['forward lists']).toBe(0);
    const live = new Map(docs.map((t, l) => [l, t] as [number, string[]]));
    // removals: half with the document's tokens (what the engine passes), half without (every list is searched)
    for (let l = 0; l < 2000; l += 3) {
      expect(loaded.remove(l, l % 2 === 0 ? docs[l] : undefined)).toBe(true);
      live.delete(l);
    }
    for (let l = 2000; l < 2100; l++) {
      const t = doc();
      loaded.add(l, t);
      live.set(l, t);
    }
    // a removed label added again: its old postings, in the compressed lists, must not count
    loaded.add(3, docs[4]);
    live.set(3, docs[4]);
    expectSameResults(loaded, fresh(live), queries);
    for (const _ of loaded.compactSteps(500));
    expectSameResults(loaded, fresh(live), queries);
    const after = Object.fromEntries(loaded.memory().map((p) => [p.part, p.bytes]));
    expect(after['postings (tails)']).toBe(0);
    expect(after['forward lists']).toBe(0);
    expect(loaded.stats().deadPostings).toBe(0);
    // pruning works over compressed lists and gives what a full scan gives
    const scanned = new Bm25Index();
    for (const [l, t] of [...live].sort((a, b) => b[0] - a[0])) scanned.add(l, t);
    const before = loaded.prunedSearches;
    for (const q of queries) for (const k of [1, 10]) expect(loaded.search(q, k)).toEqual(scanned.search(q, k));
    expect(loaded.prunedSearches).toBeGreaterThan(before);
  });
});
