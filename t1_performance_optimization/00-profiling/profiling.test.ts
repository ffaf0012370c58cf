/**
 * Checkpoint for 00-profiling. `npm run checkpoint -- 00-profiling` runs it against exercise.ts; plain
 * `npx vitest run` checks before.ts and after.ts; LAB_IMPL=wrong checks that each wrong/*.ts is rejected.
 * The reference is before.ts: the simplest correct version.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { chunkDocument } from '../../shared/corpus/chunk.ts';
import { implementations } from '../../shared/lab/checkpoint.ts';
import { createAnalyzer, type Analyzer } from '../../shared/text/analyzer.ts';
import type { Chunk } from '../../shared/types.ts';
import * as reference from './before.ts';
import { summarizeCpuProfile, type CpuProfile } from './cpuprofile.ts';
import { brownChunks, QUERIES } from './data.ts';

interface Hit {
  id: string;
  docId: string;
  score: number;
}
interface Mod {
  buildIndex(chunks: Chunk[], analyzer?: Analyzer): { size: number; search(query: string, k: number): Hit[] };
}

const run = (impl: Mod, chunks: Chunk[], query: string, k: number): Hit[] => impl.buildIndex(chunks).search(query, k);

const tiny = (texts: string[]): Chunk[] =>
  texts.flatMap((text, i) => chunkDocument({ id: `doc${i}`, text }, { maxTokens: 50, overlapTokens: 0 }));

const hitLabel = (h: Hit | undefined) => (h === undefined ? 'nothing' : `chunk ${h.id.slice(0, 8)} of ${h.docId} (score ${h.score.toFixed(6)})`);

/** Where `got` departs from `want` (same chunks, same order, scores within 1e-9), in words; undefined if nowhere. */
function difference(got: Hit[], want: Hit[]): string | undefined {
  for (let r = 0; r < Math.max(got.length, want.length); r++) {
    const g = got[r];
    const w = want[r];
    if (g === undefined || w === undefined || g.id !== w.id || g.docId !== w.docId || !(Math.abs(g.score - w.score) <= 1e-9 * Math.max(1, Math.abs(w.score)))) {
      return `rank ${r + 1} is ${hitLabel(g)} where before.ts has ${hitLabel(w)} (${got.length} hits, before.ts ${want.length})`;
    }
  }
  return undefined;
}

let brown: Chunk[] = [];
beforeAll(async () => {
  brown = await brownChunks(12);
});

describe.each(await implementations<Mod>(import.meta.url))('%s', (name, impl) => {
  it('ranks a hand-checked example (stemming: "cats" matches "cat")', () => {
    const chunks = tiny(['The cat sat on the mat.', 'A bird sang.', 'Cats and dogs, and more cats.', 'Dogs bark.']);
    const hits = run(impl, chunks, 'cat', 10);
    expect(hits.map((h) => h.docId)).toEqual(['doc2', 'doc0']);
    expect(hits[0].score).toBeGreaterThan(hits[1].score);
  });

  it('returns the hits and scores of before.ts on Brown chunks, for every query', () => {
    const index = impl.buildIndex(brown);
    const ref = reference.buildIndex(brown);
    expect(index.size, 'size: the number of chunks in the index').toBe(brown.length);
    const wrong = QUERIES.map((q) => {
      const d = difference(index.search(q, 10), ref.search(q, 10));
      return d && `"${q}": ${d}`;
    }).filter((d) => d !== undefined);
    expect(wrong.length, `${wrong.length} of ${QUERIES.length} queries differ from before.ts: ${wrong.slice(0, 3).join('; ')}`).toBe(0);
  });

  it('returns at most k hits, best first, every score > 0', () => {
    const index = impl.buildIndex(brown);
    for (const k of [1, 3, 25]) {
      const hits = index.search('the jury and the election', k);
      expect(hits.length).toBeGreaterThan(0);
      expect(hits.length).toBeLessThanOrEqual(k);
      for (let i = 1; i < hits.length; i++) expect(hits[i - 1].score).toBeGreaterThanOrEqual(hits[i].score);
      for (const h of hits) expect(h.score).toBeGreaterThan(0);
    }
  });

  it('returns nothing for a query of stop words only, an unknown word or an empty corpus', () => {
    expect(run(impl, brown, 'the and of', 10)).toEqual([]);
    expect(run(impl, brown, 'xyzzyplugh', 10)).toEqual([]);
    expect(run(impl, [], 'election', 10)).toEqual([]);
  });

  it.each([0, -1, 2.5, Number.NaN])('rejects k = %s with a RangeError', (k) => {
    expect(() => run(impl, tiny(['a cat']), 'cat', k)).toThrow(RangeError);
  });

  // The cost the lesson is about, counted rather than timed. before.ts is the naive reference that breaks it.
  describe.skipIf(name === 'before')('the work a query repeats', () => {
    it('analyses each chunk once for the index and each query once per search', () => {
      // An analyzer unlike the default (no stemming), so a search that bypasses the one it was given gets other hits.
      const plain = createAnalyzer({ stem: false });
      const seen = { chunk: 0, query: 0, other: 0 };
      const chunks = brown.slice(0, 50);
      const chunkTexts = new Set(chunks.map((c) => c.text));
      const queries = QUERIES.slice(0, 3);
      const counting: Analyzer = {
        analyze: (text) => {
          if (chunkTexts.has(text)) seen.chunk++;
          else if (queries.includes(text)) seen.query++;
          else seen.other++;
          return plain.analyze(text);
        },
      };
      const index = impl.buildIndex(chunks, counting);
      const ref = reference.buildIndex(chunks, plain);
      for (const q of queries) {
        const d = difference(index.search(q, 5), ref.search(q, 5));
        expect(d, `with the analyzer given to buildIndex, "${q}": ${d}`).toBeUndefined();
      }
      const runs = seen.chunk + seen.query + seen.other;
      const needed = chunks.length + queries.length;
      expect(
        runs,
        `the analyzer ran ${runs} times for ${queries.length} queries over ${chunks.length} chunks ` +
          `(${seen.chunk} on chunk texts, ${seen.query} on query texts${seen.other ? `, ${seen.other} on other texts` : ''}); ` +
          `each chunk once and each query once is ${needed}: the rest is work repeated inside a loop although its ` +
          `answer cannot change there. Profile it: npx tsx t1_performance_optimization/00-profiling/profile-in-process.ts --impl exercise`,
      ).toBeLessThanOrEqual(needed);
    });
  });
});

describe('summarizeCpuProfile (the parser profile.ts prints with)', () => {
  // (root) → main → work → leaf, and main → idle; 4 samples 100 µs apart
  const frame = (functionName: string, url = 'file:///x/app.js', lineNumber = 0) => ({ functionName, url, lineNumber, columnNumber: 0 });
  const profile: CpuProfile = {
    nodes: [
      { id: 1, callFrame: frame('(root)', ''), children: [2] },
      { id: 2, callFrame: frame('main', 'file:///x/app.js', 0), children: [3, 5] },
      { id: 3, callFrame: frame('work', 'file:///x/app.js', 9), children: [4] },
      { id: 4, callFrame: frame('work', 'file:///x/app.js', 9), children: [] }, // recursion: work → work
      { id: 5, callFrame: frame('helper', 'file:///x/lib.js', 2), children: [] },
    ],
    startTime: 0,
    endTime: 400,
    samples: [4, 4, 3, 5],
    timeDeltas: [0, 100, 100, 100],
  };

  it('sums self time per function and counts a recursive function once in total time', () => {
    const s = summarizeCpuProfile(profile, { root: '/x' });
    const work = s.functions.find((f) => f.name === 'work')!;
    expect(work.location).toBe('app.js:10');
    expect(work.selfMs).toBeCloseTo(0.3, 9);
    expect(work.totalMs).toBeCloseTo(0.3, 9);
    expect(s.functions[0].name).toBe('work');
    expect(s.functions.find((f) => f.name === 'main')!.totalShare).toBeCloseTo(1, 9);
    expect(s.functions.find((f) => f.name === 'helper')!.selfShare).toBeCloseTo(0.25, 9);
  });

  it('follows the heaviest path from the root', () => {
    expect(summarizeCpuProfile(profile, { root: '/x' }).hotPath.map((p) => p.label)).toEqual([
      'main  app.js:1',
      'work  app.js:10',
      'work  app.js:10',
    ]);
  });
});
