/**
 * Checkpoint for 00-profiling. `npm run checkpoint -- 00-profiling` runs it against exercise.ts; plain
 * `npx vitest run` checks before.ts and after.ts. The reference is before.ts: the simplest correct version.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { chunkDocument } from '../../shared/corpus/chunk.ts';
import { implementations } from '../../shared/lab/checkpoint.ts';
import { defaultAnalyzer, type Analyzer } from '../../shared/text/analyzer.ts';
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
  buildIndex(chunks: Chunk[], analyzer?: Analyzer): unknown;
  search(index: never, query: string, k: number): Hit[];
}

const run = (impl: Mod, chunks: Chunk[], query: string, k: number): Hit[] => impl.search(impl.buildIndex(chunks) as never, query, k);

const tiny = (texts: string[]): Chunk[] =>
  texts.flatMap((text, i) => chunkDocument({ id: `doc${i}`, text }, { maxTokens: 50, overlapTokens: 0 }));

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

  it('returns exactly the reference hits and scores on Brown chunks', () => {
    const index = impl.buildIndex(brown);
    const ref = reference.buildIndex(brown);
    for (const q of QUERIES) {
      expect(impl.search(index as never, q, 10), q).toEqual(reference.search(ref, q, 10));
    }
  });

  it('returns at most k hits, best first, every score > 0', () => {
    const index = impl.buildIndex(brown);
    for (const k of [1, 3, 25]) {
      const hits = impl.search(index as never, 'the jury and the election', k);
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

  // The property the lesson is about. before.ts is the baseline that breaks it on purpose.
  it.skipIf(name === 'before')('analyses only the query at search time (chunks once, at build time)', () => {
    let calls = 0;
    const counting: Analyzer = {
      analyze: (text) => {
        calls++;
        return defaultAnalyzer.analyze(text);
      },
    };
    const chunks = brown.slice(0, 50);
    const index = impl.buildIndex(chunks, counting);
    expect(calls).toBe(chunks.length);
    calls = 0;
    for (const q of QUERIES.slice(0, 3)) impl.search(index as never, q, 5);
    expect(calls).toBe(3);
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
