/**
 * Checkpoint for 11-precomputation. `npm run checkpoint -- 11-precomputation` runs it against exercise.ts; plain
 * `npx vitest run` checks before.ts and after.ts. The reference is before.ts, which computes everything per query:
 * whatever was precomputed, every answer must equal a fresh computation over the documents indexed at that moment.
 *
 * The cost of a query is counted, not timed: the logarithms and square roots one search takes (Math.log, Math.sqrt).
 * Tests about precomputing are skipped for before.ts, which by design precomputes nothing.
 */
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { isRagError } from '../../shared/errors.ts';
import { implementations } from '../../shared/lab/checkpoint.ts';
import { mulberry32 } from '../../shared/util/random.ts';
import * as reference from './before.ts';
import { hitRate, loadWorkload, popularQueries, queryKey, zipfLog, type Workload } from './data.ts';

type Mod = typeof import('./after.ts');
interface Hit {
  label: number;
  score: number;
}

let w: Workload;
let popular: string[];
let sample: string[];
beforeAll(async () => {
  w = await loadWorkload({ docs: 15, distinct: 300, logLength: 2_000 });
  popular = popularQueries(w.train, 40);
  const popularKeys = new Set(popular.map(queryKey));
  sample = [...new Set(w.test)].filter((q) => !popularKeys.has(queryKey(q))).slice(0, 60);
});

afterEach(() => {
  vi.restoreAllMocks();
});

const fresh = (texts: string[], query: string, k: number) => reference.createSearcher(texts).search(query, k);

/** Where `got` first differs from `want` (labels exactly, scores to 1e-9), in words; undefined when they agree. */
function difference(got: Hit[], want: Hit[]): string | undefined {
  for (let i = 0; i < Math.max(got.length, want.length); i++) {
    const g = got[i];
    const x = want[i];
    if (!g || !x) return `it returned ${got.length} hits where a fresh computation returns ${want.length}`;
    if (g.label !== x.label) return `rank ${i + 1} is document ${g.label} where a fresh computation ranks document ${x.label}`;
    if (!(Math.abs(g.score - x.score) <= 1e-9)) {
      return `document ${g.label} (rank ${i + 1}) scored ${g.score.toFixed(9)} where a fresh computation gives ${x.score.toFixed(9)}`;
    }
  }
  return undefined;
}

function expectSame(got: Hit[], want: Hit[], what: string): void {
  const diff = difference(got, want);
  expect(diff, `${what}: ${diff}`).toBeUndefined();
}

/** The logarithms and square roots taken while `fn` runs. */
function mathCalls(fn: () => void): { logs: number; roots: number } {
  const log = vi.spyOn(Math, 'log');
  const log1p = vi.spyOn(Math, 'log1p');
  const sqrt = vi.spyOn(Math, 'sqrt');
  const hypot = vi.spyOn(Math, 'hypot');
  try {
    fn();
    return { logs: log.mock.calls.length + log1p.mock.calls.length, roots: sqrt.mock.calls.length + hypot.mock.calls.length };
  } finally {
    log.mockRestore();
    log1p.mockRestore();
    sqrt.mockRestore();
    hypot.mockRestore();
  }
}

describe.each(await implementations<Mod>(import.meta.url))('%s', (name, impl) => {
  it('ranks a hand-checked example', () => {
    const s = impl.createSearcher(['the cat sat on the mat', 'the dog sat', 'cat cat cat']);
    const hits = s.search('cats', 10);
    expect(hits.map((h) => h.label)).toEqual([2, 0]); // doc 1 shares no term: left out
    expect(hits[0].score).toBeCloseTo(1, 12); // "cat" alone: the same direction as the query
    expect(hits[1].score).toBeGreaterThan(0);
    expect(hits[1].score).toBeLessThan(1);
  });

  it('gives the results of the compute-everything reference on real Brown chunks and log queries', () => {
    const s = impl.createSearcher(w.chunks);
    const ref = reference.createSearcher(w.chunks);
    for (const q of [...sample, ...popular]) expectSame(s.search(q, 10), ref.search(q, 10), `for "${q}"`);
  });

  it('serves precomputed popular queries with the on-the-fly results, for k below, at and above the kept k', () => {
    const s = impl.createSearcher(w.chunks);
    s.precompute(popular, 10);
    const ref = reference.createSearcher(w.chunks);
    for (const q of popular) {
      for (const k of [10, 3, 25]) expectSame(s.search(q, k), ref.search(q, k), `precomputed "${q}" with k = ${k}`);
    }
  });

  it.skipIf(name === 'before')('serves precomputed queries from their precomputed answers, and counts hits and misses', () => {
    const s = impl.createSearcher(w.chunks);
    const ten = popular.slice(0, 10);
    s.precompute(ten, 10);
    const kept = s.stats().entries;
    expect(kept, `precompute kept ${kept} of 10 popular queries (stats().entries)`).toBe(10);
    for (const q of ten) s.search(q, 10);
    const st = s.stats();
    expect(
      st.hits,
      `${st.hits} of 10 searches for precomputed queries were served from their precomputed answers ` +
        `(hits ${st.hits}, misses ${st.misses}): a popular query should cost a lookup, not a scoring pass`,
    ).toBe(10);
    s.search('a query nobody precomputed about zebras', 10);
    expect(s.stats(), 'a query that was not precomputed counts as one miss').toMatchObject({ hits: 10, misses: st.misses + 1 });
  });

  it('stays equal to a fresh computation when documents are added (N, so every IDF, weight and norm, changes)', () => {
    const texts = w.chunks.slice(0, 200);
    const s = impl.createSearcher(texts);
    s.precompute(popular, 10);
    for (const q of [...popular.slice(0, 5), ...sample.slice(0, 5)]) s.search(q, 10); // warm: tables built, entries served
    const added = [
      `${popular[0]} ${popular[0]} ${popular[0]}`, // the new best match for the most popular query
      `${popular[1]} and again ${popular[1]}`,
      w.chunks[300],
    ];
    const all = [...texts];
    for (const doc of added) {
      const label = s.add(doc);
      expect(label, 'add returns the new label, 0 … size − 1 in the order added').toBe(all.length);
      all.push(doc);
      expect(s.size).toBe(all.length);
      for (const q of [...popular.slice(0, 10), ...sample.slice(0, 10)]) {
        const before = s.stats().hits;
        const got = s.search(q, 10);
        const served = s.stats().hits > before;
        const diff = difference(got, fresh(all, q, 10));
        expect(
          diff,
          served
            ? `after document ${label} was added, "${q}" was answered from a precomputed result older than the last add: ` +
                `${diff}. Adding a document changes N, so every IDF, every weight and possibly every ranking changes with it`
            : `after document ${label} was added, "${q}" was scored with IDF, weights or norms from before the last add: ` +
                `${diff}. idf(t) = ln(1 + N / df(t)) changes for every term whenever N does`,
        ).toBeUndefined();
      }
    }
    expect(s.search(popular[0], 1)[0].label, 'the document added for the most popular query is now its best match').toBe(texts.length);
  });

  it.skipIf(name === 'before')('serves the popular queries from precomputed answers again after the index changed', () => {
    const s = impl.createSearcher(w.chunks.slice(0, 100));
    const ten = popular.slice(0, 10);
    s.precompute(ten, 10);
    for (const q of ten) s.search(q, 10);
    const first = s.stats().hits;
    expect(first, `${first} of 10 precomputed queries were served from their precomputed answers, before any write`).toBe(10);
    s.add('one more document about rivers and horses');
    for (const q of ten) s.search(q, 10); // may be recomputed once
    const before = s.stats().hits;
    for (const q of ten) s.search(q, 10);
    const again = s.stats().hits - before;
    expect(
      again,
      `${again} of 10 precomputed queries were served from precomputed answers again after one document was added ` +
        '(asked twice since): a write must not switch the cache off until the next precompute',
    ).toBe(10);
  });

  it('returns copies: editing a result does not change later answers', () => {
    const s = impl.createSearcher(w.chunks);
    s.precompute([popular[0]], 10);
    const first = s.search(popular[0], 10);
    const want = structuredClone(first);
    first[0].score = -1;
    first.length = 1;
    expect(s.search(popular[0], 10), 'a caller edited an earlier result and the next answer changed').toEqual(want);
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

  // The cost of one query on an index that did not change since the last search, counted. A query may take a
  // logarithm per query term (its own weights) and a square root for its own norm; nothing per document.
  describe.skipIf(name === 'before')('the cost of a query', () => {
    const ask = (q: string) => {
      const s = impl.createSearcher(w.chunks);
      s.search(sample[0], 10); // the first search may build what the index needs
      const terms = queryKey(q).split(' ').length;
      return { terms, ...mathCalls(() => s.search(q, 10)) };
    };
    const query = () => sample.find((q) => fresh(w.chunks, q, 10).length >= 10)!;

    it('takes no logarithm per document: document frequencies, IDF and weights change only when documents do', () => {
      const { terms, logs } = ask(query());
      expect(
        logs,
        `one search took ${logs} logarithms for ${terms} query terms over ${w.chunks.length} documents: ` +
          'document frequencies, IDF and document weights were recomputed for a query, though they change only ' +
          'when a document is added',
      ).toBeLessThanOrEqual(2 * terms + 1);
    });

    it('takes no square root per document: a document’s norm changes only when the documents do', () => {
      const { roots } = ask(query());
      expect(
        roots,
        `one search took ${roots} square roots over ${w.chunks.length} documents: a norm per scored document, ` +
          'recomputed on every query; it is the same for every query until a document is added',
      ).toBeLessThanOrEqual(2);
    });
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
