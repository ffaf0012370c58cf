/**
 * Checkpoint for 02-object-reuse. `npm run checkpoint -- 02-object-reuse` runs it against exercise.ts; plain
 * `npx vitest run` checks before.ts and after.ts. The reference is before.ts (an object per candidate), and the
 * engine's own `fuse` must agree with it.
 *
 * The cost is counted, not timed: typed arrays created per fusion (the global constructors swapped for counting
 * ones), and bytes allocated per candidate: the bytes a fusion allocates (measured around single calls in windows
 * without a garbage collection, 01-memory-pool/alloc.ts) at two list depths, so the fixed cost of the k hits cancels
 * out and what is left is what every extra candidate costs.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { implementations } from '../../shared/lab/checkpoint.ts';
import { DEFAULT_FUSION } from '../../shared/engine.ts';
import { fuse, type FusionOptions } from '../../shared/retrieve/fusion.ts';
import type { ScoredLabel } from '../../shared/types.ts';
import { bytesPerCall, countTypedArrays, lowestUpTo, median, warmUp } from '../01-memory-pool/alloc.ts';
import * as reference from './before.ts';
import { loadWorkload } from './data.ts';

type Mod = typeof import('./after.ts');

const DEPTH = 300;
let lists: ScoredLabel[][][];

beforeAll(async () => {
  ({ lists } = await loadWorkload({ docs: 40, depth: DEPTH, queries: 12 }));
});

const METHODS: Array<[string, FusionOptions]> = [
  ['weighted (the engine’s default)', DEFAULT_FUSION],
  ['rrf', { method: 'rrf', rrfK: 60 }],
];

const prefix = (ls: ScoredLabel[][], d: number): ScoredLabel[][] => ls.map((l) => l.slice(0, d));
const kb = (bytes: number): string => `${(bytes / 1024).toFixed(1)} KB`;

describe.each(await implementations<Mod>(import.meta.url))('%s', (name, impl) => {
  it.each(METHODS)('returns the same hits as the reference, fusion after fusion on one fuser: %s', (_, opts) => {
    const fuser = impl.createFuser(opts);
    const ks = [10, 1, 100, 10_000, 3];
    for (let round = 0; round < 2; round++) {
      lists.forEach((ls, i) => {
        const k = ks[(i + round) % ks.length];
        const d = [DEPTH, 20, 150][(i + round) % 3];
        const got = fuser.fuse(prefix(ls, d), k);
        const want = reference.createFuser(opts).fuse(prefix(ls, d), k);
        expect(
          got,
          `query ${i} (round ${round + 1}, k = ${k}, depth ${d}) differs from the reference: ` +
            `sources from an earlier fusion, or scores carried over (every reused slot must start clean)`,
        ).toEqual(want);
      });
    }
  });

  it('agrees with the engine’s fuse(lists).slice(0, k)', () => {
    const fuser = impl.createFuser(DEFAULT_FUSION);
    for (const ls of lists) expect(fuser.fuse(ls, 10)).toEqual(fuse(ls, DEFAULT_FUSION).slice(0, 10));
  });

  it('fuses a hand-checked example', () => {
    const bm25 = [
      { label: 1, score: 9 },
      { label: 2, score: 5 },
      { label: 3, score: 1 },
    ];
    const dense = [
      { label: 3, score: 0.9 },
      { label: 1, score: 0.8 },
      { label: 4, score: 0.1 },
    ];
    const out = impl.createFuser({ method: 'rrf', rrfK: 60 }).fuse([bm25, dense], 10);
    expect(out.map((f) => f.label)).toEqual([1, 3, 2, 4]);
    expect(out[0].score).toBeCloseTo(1 / 61 + 1 / 62, 12);
    expect(out.find((f) => f.label === 2)!.sources).toEqual([5, undefined]);
    expect(out.find((f) => f.label === 3)!.sources).toEqual([1, 0.9]);
    const weighted = impl.createFuser({ method: 'weighted', weights: [1, 0.5] }).fuse([bm25, dense], 2);
    expect(weighted.map((f) => f.label)).toEqual([1, 2]); // 2 and 3 tie at 0.5: the lower label
    expect(weighted[0].score).toBeCloseTo(1 + 0.5 * (0.7 / 0.8), 12);
  });

  it('breaks ties by the lower label, also at the k-th place', () => {
    // rrf: 9 and 4 both score 1/61, 3 and 8 both 1/62
    const a = [
      { label: 9, score: 2 },
      { label: 3, score: 1 },
    ];
    const b = [
      { label: 4, score: 2 },
      { label: 8, score: 1 },
    ];
    const fuser = impl.createFuser({ method: 'rrf' });
    expect(fuser.fuse([a, b], 1).map((f) => f.label)).toEqual([4]);
    expect(fuser.fuse([a, b], 3).map((f) => f.label)).toEqual([4, 9, 3]);
  });

  it('handles empty lists, a different number of lists, and a bad k', () => {
    const fuser = impl.createFuser({ method: 'rrf' });
    expect(fuser.fuse([[], []], 5)).toEqual([]);
    expect(fuser.fuse([], 5)).toEqual([]);
    const [bm25, dense] = lists[0];
    expect(fuser.fuse([[], dense], 5)).toEqual(reference.createFuser({ method: 'rrf' }).fuse([[], dense], 5));
    const three = [bm25, dense, bm25.slice(0, 7)];
    expect(fuser.fuse(three, 20)).toEqual(reference.createFuser({ method: 'rrf' }).fuse(three, 20));
    expect(fuser.fuse([bm25, dense], 20)).toEqual(reference.createFuser({ method: 'rrf' }).fuse([bm25, dense], 20));
    for (const k of [0, -1, 2.5, Number.NaN]) expect(() => fuser.fuse([bm25], k)).toThrow(RangeError);
  });

  it('leaves the hits a caller holds, and the lists it passed, alone', () => {
    const fuser = impl.createFuser(DEFAULT_FUSION);
    const input = lists[0].map((l) => l.map((h) => ({ ...h })));
    const first = fuser.fuse(lists[0], 10);
    const copy = first.map((f) => ({ ...f, sources: [...f.sources] }));
    fuser.fuse(lists[1], 10);
    fuser.fuse(lists[2], 5);
    expect(first, 'the hits of the first fusion changed when the next fusion ran: they are the caller’s now').toEqual(copy);
    expect(lists[0]).toEqual(input);
  });

  // The cost the lesson is about, counted. before.ts makes an object per candidate by design, so it is exempt here.
  describe.skipIf(name === 'before')('the memory of a fusion', () => {
    it('creates no typed array per fusion once warmed up', () => {
      const fuser = impl.createFuser(DEFAULT_FUSION);
      for (const ls of lists) fuser.fuse(ls, 10);
      const c = countTypedArrays(() => {
        for (const ls of lists) fuser.fuse(ls, 10);
      });
      expect(
        c.arrays,
        `${c.arrays} typed arrays (${kb(c.bytes)}) created by ${lists.length} fusions after a warm-up, ` +
          `${kb(c.bytes / lists.length)} per fusion: parallel arrays made per query are still allocation per ` +
          `candidate; make them once and reuse them`,
      ).toBe(0);
    });

    it('allocates nothing per candidate: only the k hits it returns', async () => {
      const fuser = impl.createFuser(DEFAULT_FUSION);
      const measure = async (d: number): Promise<number> => {
        const sets = lists.map((ls) => prefix(ls, d));
        warmUp(() => fuser.fuse(sets[Math.floor(Math.random() * sets.length)], 10), 100);
        let i = 0;
        return median(await bytesPerCall(() => fuser.fuse(sets[i++ % sets.length], 10), { windows: 31 }));
      };
      const shallow = 30;
      const count = (d: number): number => lists.reduce((s, ls) => s + Math.min(ls[0].length, d) + Math.min(ls[1].length, d), 0) / lists.length;
      let deep = 0;
      let small = 0;
      const perCandidate = await lowestUpTo(2, 4, async () => {
        // deep first, so the fuser's buffers have grown before anything is measured
        deep = await measure(DEPTH);
        small = await measure(shallow);
        return (deep - small) / (count(DEPTH) - count(shallow));
      });
      expect(
        perCandidate,
        `${perCandidate.toFixed(1)} bytes allocated per candidate: a fusion of ${Math.round(count(DEPTH))} candidates ` +
          `allocates ${kb(deep)}, of ${Math.round(count(shallow))} ${kb(small)}, for the same 10 hits; an object (or a ` +
          `map entry, or an array) per candidate is garbage a moment later`,
      ).toBeLessThanOrEqual(2);
    });
  });
});
