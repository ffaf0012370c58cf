/**
 * Checkpoint for 11-precomputation. `npm run checkpoint -- 11-precomputation` runs it against exercise.ts; plain
 * `npx vitest run` checks before.ts and after.ts. The reference is before.ts, which computes everything per query.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { isRagError } from '../../shared/errors.ts';
import { implementations } from '../../shared/lab/checkpoint.ts';
import { mulberry32 } from '../../shared/util/random.ts';
import * as reference from './before.ts';
import { hitRate, loadWorkload, popularQueries, zipfLog, type Workload } from './data.ts';

type Mod = typeof import('./after.ts');

let w: Workload;
let popular: string[];
let sample: string[];
beforeAll(async () => {
  w = await loadWorkload({ docs: 15, distinct: 300, logLength: 2_000 });
  popular = popularQueries(w.train, 40);
  sample = [...new Set(w.test)].slice(0, 60);
});

const fresh = (texts: string[], query: string, k: number) => reference.createSearcher(texts).search(query, k);

describe.each(await implementations<Mod>(import.meta.url))('%s', (name, impl) => {
  it('ranks a hand-checked example', () => {
    const s = impl.createSearcher(['the cat sat on the mat', 'the dog sat', 'cat cat cat']);
    const hits = s.search('cats', 10);
    expect(hits.map((h) => h.label)).toEqual([2, 0]); // doc 1 shares no term: left out
    expect(hits[0].score).toBeCloseTo(1, 12); // "cat" alone: the same direction as the query
    expect(hits[1].score).toBeGreaterThan(0);
    expect(hits[1].score).toBeLessThan(1);
  });

  it('gives exactly the results of the compute-everything reference on real Brown chunks and log queries', () => {
    const s = impl.createSearcher(w.chunks);
    const ref = reference.createSearcher(w.chunks);
    for (const q of sample) expect(s.search(q, 10)).toEqual(ref.search(q, 10));
  });

  it('serves precomputed popular queries with exactly the on-the-fly results', () => {
    const s = impl.createSearcher(w.chunks);
    s.precompute(popular, 10);
    const ref = reference.createSearcher(w.chunks);
    for (const q of popular) {
      expect(s.search(q, 10)).toEqual(ref.search(q, 10));
      expect(s.search(q, 3)).toEqual(ref.search(q, 3)); // a smaller k is a prefix of the kept list
      expect(s.search(q, 25)).toEqual(ref.search(q, 25)); // a larger k than was kept is computed
    }
  });

  it.skipIf(name === 'before')('answers precomputed queries from the cache, and counts hits and misses', () => {
    const s = impl.createSearcher(w.chunks);
    s.precompute(popular.slice(0, 10), 10);
    expect(s.stats().entries).toBe(10);
    for (const q of popular.slice(0, 10)) s.search(q, 10);
    s.search('a query nobody precomputed about zebras', 10);
    expect(s.stats()).toMatchObject({ hits: 10, misses: 1 });
  });

  it('stays equal to a fresh computation when documents are added (IDF, norms and cached results change)', () => {
    const texts = w.chunks.slice(0, 200);
    const s = impl.createSearcher(texts);
    s.precompute(popular, 10);
    for (const q of popular.slice(0, 5)) s.search(q, 10); // warm: tables built, entries served
    const added = [
      `${popular[0]} ${popular[0]} ${popular[0]}`, // the new best match for the most popular query
      `${popular[1]} and again ${popular[1]}`,
      w.chunks[300],
    ];
    const all = [...texts];
    for (const doc of added) {
      expect(s.add(doc)).toBe(all.length);
      all.push(doc);
      expect(s.size).toBe(all.length);
      for (const q of [...popular.slice(0, 10), ...sample.slice(0, 10)]) expect(s.search(q, 10)).toEqual(fresh(all, q, 10));
    }
    expect(s.search(popular[0], 1)[0].label).toBe(texts.length);
  });

  it('drops precomputed results when the index changes', () => {
    const s = impl.createSearcher(w.chunks.slice(0, 50));
    s.precompute(popular.slice(0, 5));
    s.add('one more document about rivers and horses');
    expect(s.stats().entries).toBe(0);
  });

  it('returns copies: editing a result does not change later answers', () => {
    const s = impl.createSearcher(w.chunks);
    s.precompute([popular[0]], 10);
    const first = s.search(popular[0], 10);
    const want = structuredClone(first);
    first[0].score = -1;
    first.length = 1;
    expect(s.search(popular[0], 10)).toEqual(want);
  });

  it('returns [] for a query with no indexed term, and for an empty index', () => {
    expect(impl.createSearcher(w.chunks).search('the of and', 5)).toEqual([]); // stop words only
    expect(impl.createSearcher(w.chunks).search('qwxzyv', 5)).toEqual([]);
    expect(impl.createSearcher([]).search('anything', 5)).toEqual([]);
  });

  it('rejects a bad k and a non-string query with RagError INVALID_INPUT', () => {
    const s = impl.createSearcher(['a b c']);
    for (const bad of [() => s.search('b', 0), () => s.search('b', 1.5), () => s.search(7 as unknown as string, 3)]) {
      let err: unknown;
      try {
        bad();
      } catch (e) {
        err = e;
      }
      expect(isRagError(err, 'INVALID_INPUT')).toBe(true);
    }
  });
});

describe('the Zipf query log', () => {
  it('is skewed: a few queries cover much of the log, and the hit rate grows with N', () => {
    const rates = [1, 10, 40, 150, 300].map((n) => hitRate(popularQueries(w.train, n), w.test));
    for (let i = 1; i < rates.length; i++) expect(rates[i]).toBeGreaterThanOrEqual(rates[i - 1]);
    expect(rates[0]).toBeGreaterThan(0.05); // the top query alone: P(1) ≈ 1 / H(300, 1.1) ≈ 0.17
    expect(rates[2]).toBeGreaterThan(0.4);
    expect(hitRate(popularQueries(w.train, 10_000), w.train)).toBe(1);
  });

  it('is seeded: same seed, same log', () => {
    const items = ['a', 'b', 'c', 'd'];
    expect(zipfLog(items, 50, 1.1, mulberry32(5))).toEqual(zipfLog(items, 50, 1.1, mulberry32(5)));
  });
});
