/**
 * Benchmark for 00-profiling: top-10 BM25 queries over Brown chunks, every chunk re-analysed per query (before) vs.
 * analysed once at build time (after), and your exercise.ts with --impl exercise.
 * Run: npm run t1 -- --only 00-profiling [--quick] [--impl exercise]
 */
import { performance } from 'node:perf_hooks';
import { medianMs } from '../../shared/util/timing.ts';
import { defineLesson, type Metric } from '../../shared/lab/lesson.ts';
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

interface Built {
  index: after.SearchIndex;
  buildMs: number;
}

interface Input {
  chunks: Chunk[];
  before: Built;
  after: Built;
  /** With --impl exercise: the index your exercise.ts built, or why it could not build one (its row shows that). */
  exercise?: Built | { error: string };
  /** Share of before's and after's query time in chunk analysis, from a CPU profile taken in setup. */
  share: { before: number; after: number };
  /** Per-variant query cursor, so every variant walks the same query sequence. */
  cursor: Record<string, number>;
}

function nextQuery(input: Input, variant: string): string {
  const i = input.cursor[variant] ?? 0;
  input.cursor[variant] = i + 1;
  return QUERIES[i % QUERIES.length];
}

/** Build one implementation's index the same way for every variant, timed. */
function build(mod: typeof after, chunks: Chunk[]): Built {
  const t0 = performance.now();
  const index = mod.buildIndex(chunks);
  return { index, buildMs: performance.now() - t0 };
}

/**
 * Share of `search`'s sampled time spent inside `fn` (anywhere below it on the stack). Taken in setup, before the
 * benchmark runs: code the JIT optimised before the profiler started can lose the frames of the functions it
 * inlined, and their time would show under their caller (see the README on clinic flame).
 */
async function shareOf(fn: string, queries: number, index: after.SearchIndex): Promise<number> {
  const profile = await profileInProcess(() => {
    for (let i = 0; i < queries; i++) index.search(QUERIES[i % QUERIES.length], K);
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
  sizes: { quick: { docs: 30 }, full: { docs: 500 } },
  setup: async (size, ctx) => {
    ctx.log(`loading and chunking ${size.docs} Brown documents`);
    const chunks = await brownChunks(size.docs);
    const ex = ctx.exercise as typeof after | undefined;
    const b = build(before, chunks);
    const a = build(after, chunks);
    ctx.log(`${chunks.length} chunks; after.buildIndex took ${a.buildMs.toFixed(0)} ms; profiling before and after`);
    // What the profile says about the worked example, measured as profile.ts does (V8's sampler, via the inspector).
    // Your exercise.ts gets no such line: profile it yourself (profile.ts --impl exercise).
    const queries = ctx.mode === 'quick' ? 6 : 8;
    const share = {
      before: await shareOf('termFrequencies', queries, b.index),
      after: await shareOf('termFrequencies', queries * 4, a.index),
    };
    let exercise: Input['exercise'];
    if (ex) {
      try {
        exercise = build(ex, chunks);
      } catch (err) {
        exercise = { error: `exercise.ts: buildIndex failed: ${(err as Error).message}` };
        ctx.log(exercise.error);
      }
    }
    return { chunks, before: b, after: a, ...(exercise ? { exercise } : {}), share, cursor: {} };
  },
  baseline: 'before',
  headline: { name: 'time per top-10 query', unit: 'ms', better: 'lower' },
  variants: {
    before: (input) => input.before.index.search(nextQuery(input, 'before'), K),
    after: (input) => input.after.index.search(nextQuery(input, 'after'), K),
  },
  exercise: (input) => {
    const ex = input.exercise!;
    if ('error' in ex) throw new Error(ex.error);
    return ex.index.search(nextQuery(input, 'exercise'), K);
  },
  extras: async (input, ctx) => {
    const reps = ctx.mode === 'quick' ? 6 : 16;
    const query = (b: Built) => (i: number) => b.index.search(QUERIES[i % QUERIES.length], K);
    const beforeMs = medianMs(query(input.before), reps);
    const afterMs = medianMs(query(input.after), reps * 4);
    const metrics: Metric[] = [
      { name: 'chunks', value: input.chunks.length, unit: 'chunks' },
      {
        name: 'query time in termFrequencies (chunk analysis)',
        value: Math.round(input.share.before * 100),
        unit: '%',
        variant: 'before',
        note: 'share of search() total time, V8 CPU profile',
      },
      { name: 'query time in termFrequencies (chunk analysis)', value: Math.round(input.share.after * 100), unit: '%', variant: 'after' },
      { name: 'build time (buildIndex)', value: input.after.buildMs, unit: 'ms', variant: 'after' },
      {
        name: 'queries that pay back the build',
        value: Math.ceil(input.after.buildMs / Math.max(beforeMs - afterMs, 1e-9)),
        unit: 'queries',
        variant: 'after',
        note: `build ms / (median before ${beforeMs.toFixed(1)} ms − median after ${afterMs.toFixed(2)} ms per query)`,
      },
    ];
    if (input.exercise && 'index' in input.exercise) metrics.push({ name: 'build time (buildIndex)', value: input.exercise.buildMs, unit: 'ms', variant: 'exercise' });
    return { metrics };
  },
});
