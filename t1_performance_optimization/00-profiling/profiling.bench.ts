/**
 * Benchmark for 00-profiling: top-10 BM25 queries over Brown chunks, every chunk re-analysed per query (before) vs.
 * analysed once at build time (after). Run: npm run t1 -- --only 00-profiling [--quick]
 */
import { performance } from 'node:perf_hooks';
import { medianMs } from '../../shared/util/timing.ts';
import { defineLesson } from '../../shared/lab/lesson.ts';
import type { Chunk } from '../../shared/types.ts';
import * as after from './after.ts';
import * as before from './before.ts';
import { summarizeCpuProfile } from './cpuprofile.ts';
import { brownChunks, QUERIES } from './data.ts';
import { profileInProcess } from './profile-in-process.ts';

const K = 10;

interface Size {
  /** Brown documents to chunk (of 500). */
  docs: number;
}

interface Input {
  chunks: Chunk[];
  naive: before.NaiveIndex;
  analysed: after.AnalysedIndex;
  buildMs: number;
  /** Per-variant query cursor, so every variant walks the same query sequence. */
  cursor: Record<string, number>;
}

function nextQuery(input: Input, variant: string): string {
  const i = input.cursor[variant] ?? 0;
  input.cursor[variant] = i + 1;
  return QUERIES[i % QUERIES.length];
}

/** Share of `search`'s sampled time spent inside `fn` (anywhere below it on the stack). */
async function shareOf(fn: string, queries: number, search: (q: string) => unknown): Promise<number> {
  const profile = await profileInProcess(() => {
    for (let i = 0; i < queries; i++) search(QUERIES[i % QUERIES.length]);
  });
  const s = summarizeCpuProfile(profile);
  const inSearch = s.functions.find((f) => f.name === 'search')?.totalMs ?? 0;
  const inFn = s.functions.find((f) => f.name === fn)?.totalMs ?? 0;
  return inSearch > 0 ? inFn / inSearch : 0;
}


export default defineLesson<Size, Input>({
  id: 't1/00-profiling',
  title: 'Profiling: find the hot function, then fix only that',
  workload: `one top-${K} BM25 query (rotating over ${QUERIES.length} fixed queries) against the chunks of the first n Brown documents (200-word chunks, 40 overlap)`,
  sizes: { quick: { docs: 40 }, full: { docs: 500 } },
  setup: async (size, ctx) => {
    ctx.log(`loading and chunking ${size.docs} Brown documents`);
    const chunks = await brownChunks(size.docs);
    const t0 = performance.now();
    const analysed = after.buildIndex(chunks);
    const buildMs = performance.now() - t0;
    ctx.log(`${chunks.length} chunks; after.buildIndex took ${buildMs.toFixed(0)} ms`);
    return { chunks, naive: before.buildIndex(chunks), analysed, buildMs, cursor: {} };
  },
  baseline: 'before',
  headline: { name: 'time per call', unit: 'ms', better: 'lower' },
  variants: {
    before: (input) => before.search(input.naive, nextQuery(input, 'before'), K),
    after: (input) => after.search(input.analysed, nextQuery(input, 'after'), K),
  },
  extras: async (input, ctx) => {
    const reps = ctx.mode === 'quick' ? 8 : 16;
    const beforeMs = medianMs((i) => before.search(input.naive, QUERIES[i % QUERIES.length], K), reps);
    const afterMs = medianMs((i) => after.search(input.analysed, QUERIES[i % QUERIES.length], K), reps * 4);
    // What the profile says, measured the same way profile.ts does (V8's sampler, here through the inspector).
    const beforeShare = await shareOf('termFrequencies', reps, (q) => before.search(input.naive, q, K));
    const afterShare = await shareOf('termFrequencies', reps * 4, (q) => after.search(input.analysed, q, K));
    return {
      metrics: [
        { name: 'chunks', value: input.chunks.length, unit: 'chunks' },
        {
          name: 'query time in termFrequencies (chunk analysis)',
          value: beforeShare * 100,
          unit: '%',
          variant: 'before',
          note: 'share of search() total time, V8 CPU profile',
        },
        { name: 'query time in termFrequencies (chunk analysis)', value: afterShare * 100, unit: '%', variant: 'after' },
        { name: 'build time (analyse every chunk once)', value: input.buildMs, unit: 'ms', variant: 'after' },
        {
          name: 'queries that pay back the build',
          value: input.buildMs / Math.max(beforeMs - afterMs, 1e-9),
          unit: 'queries',
          variant: 'after',
          note: `build ms / (median before ${beforeMs.toFixed(1)} ms − median after ${afterMs.toFixed(2)} ms per query)`,
        },
      ],
    };
  },
});
