/**
 * Benchmark for 01-memory-pool: one BM25 top-10 query, term at a time over the engine's postings (the Brown corpus,
 * grown with the engine's generator for the full size), with the query's score buffer, candidate list and heap
 * allocated per query (before) or made once and reused (after); beside them, the engine's own `Bm25Index.search` on
 * the same index, which reuses its buffers the way after.ts does.
 * Run: npm run t2 -- --only 01-memory-pool [--quick] [--impl exercise]
 *
 * Headline: bytes allocated per query, measured around single queries in windows without a garbage collection
 * (alloc.ts). Other figures: garbage collections and their pauses per 1,000 queries, and p99 query latency, over a
 * loop of queries (PerformanceObserver 'gc'); typed arrays created per query (counted).
 */
import { PerformanceObserver, performance, type PerformanceEntry } from 'node:perf_hooks';
import { setImmediate as tick } from 'node:timers/promises';
import { defineLesson, EXERCISE, type Metric } from '../../shared/lab/lesson.ts';
import { measured } from '../../shared/lab/metric.ts';
import * as after from './after.ts';
import { bytesPerCall, countTypedArrays, warmUp } from './alloc.ts';
import * as before from './before.ts';
import { analyzeAll, bm25Over, loadCorpus, postingsOf, sampleQueries, type CorpusSize, type Postings } from './data.ts';

type Mod = typeof after;

const K = 10;
const QUERIES = 64;
const HEADLINE = 'bytes allocated per query';
/** The engine's own BM25 search over the same index: its score buffer and candidate list are reused (shared/index/bm25.ts). */
const ENGINE = 'engine: Bm25Index.search';

interface Size extends CorpusSize {
  /** Queries per trial of the query loop (GC and p99 figures). */
  loop: number;
}

interface Input {
  size: Size;
  postings: Postings;
  chunks: number;
  queries: string[][];
  searchers: Record<string, after.Searcher>;
  cursor: Record<string, number>;
}

function query(input: Input, variant: string): unknown {
  const i = input.cursor[variant] ?? 0;
  input.cursor[variant] = i + 1;
  return input.searchers[variant].search(input.queries[i % QUERIES], K);
}

interface LoopTrial {
  latencies: number[];
  gcCount: number;
  gcPauseMs: number;
}

/** `n` queries back to back, each timed; the collections that started during the loop. */
async function queryLoop(s: after.Searcher, queries: string[][], n: number): Promise<LoopTrial> {
  const gcs: Array<{ start: number; duration: number }> = [];
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries() as PerformanceEntry[]) gcs.push({ start: e.startTime, duration: e.duration });
  });
  obs.observe({ entryTypes: ['gc'] });
  const latencies = new Array<number>(n);
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const a = performance.now();
    s.search(queries[i % queries.length], K);
    latencies[i] = performance.now() - a;
  }
  const t1 = performance.now();
  await tick();
  await tick();
  obs.disconnect();
  const inLoop = gcs.filter((g) => g.start >= t0 && g.start <= t1);
  return { latencies, gcCount: inLoop.length, gcPauseMs: inLoop.reduce((s, g) => s + g.duration, 0) };
}

export default defineLesson<Size, Input>({
  id: 't2/01-memory-pool',
  title: 'Memory pool: per-query score buffers, candidate lists and heaps vs. buffers made once and reused',
  workload:
    `one BM25 top-${K} query (rotating over ${QUERIES} queries cut from Brown sentences, 4–10 words) scored term at ` +
    'a time over the postings of n chunks as the engine’s Bm25Index holds them (same analyzer, same BM25 weights)',
  sizes: { quick: { docs: 120, loop: 3_000 }, full: { docs: 500, chunks: 30_000, loop: 5_000 } },
  setup: async (size, ctx) => {
    const corpus = await loadCorpus(size, ctx.log);
    ctx.log(`analysing ${corpus.texts.length} chunks; their postings, and the engine's Bm25Index over them`);
    const analysed = analyzeAll(corpus.texts);
    const index = bm25Over(analysed);
    const postings = postingsOf(analysed);
    const ex = ctx.exercise as Mod | undefined;
    return {
      size,
      postings,
      chunks: corpus.texts.length,
      queries: sampleQueries(corpus.docs, QUERIES),
      searchers: {
        before: before.createSearcher(postings),
        after: after.createSearcher(postings),
        [ENGINE]: index,
        ...(ex ? { [EXERCISE]: ex.createSearcher(postings) } : {}),
      },
      cursor: {},
    };
  },
  baseline: 'before',
  headline: { name: HEADLINE, unit: 'bytes', better: 'lower', metric: HEADLINE },
  variants: {
    before: (input) => query(input, 'before'),
    after: (input) => query(input, 'after'),
    [ENGINE]: (input) => query(input, ENGINE),
  },
  exercise: (input) => query(input, EXERCISE),
  extras: async (input, ctx) => {
    const metrics: Metric[] = [];
    const trials = 3;
    const n = (x: number): string => x.toLocaleString('en-US');
    const space = `label space ${n(input.postings.labelCount)} (${n(input.chunks)} chunks)`;
    for (const [name, s] of Object.entries(input.searchers)) {
      const v = { variant: name };
      try {
        ctx.log(`${name}: bytes per query, typed arrays per query, ${trials} × ${input.size.loop} queries in a loop`);
        // until the optimising compiler has had time to finish (it runs concurrently; slow on a busy machine)
        const randomQuery = (): unknown => s.search(input.queries[Math.floor(Math.random() * QUERIES)], K);
        warmUp(randomQuery, ctx.mode === 'quick' ? 300 : 1_500);
        let i = 0;
        const windows = ctx.mode === 'quick' ? 41 : 101;
        const bytes = await bytesPerCall(() => s.search(input.queries[i++ % QUERIES], K), { windows });
        const typed = countTypedArrays(() => {
          for (const q of input.queries) s.search(q, K);
        });
        const loops: LoopTrial[] = [];
        for (let t = 0; t < trials; t++) loops.push(await queryLoop(s, input.queries, input.size.loop));
        const per1k = 1000 / input.size.loop;
        metrics.push(
          measured(HEADLINE, 'bytes', bytes, {
            ...v,
            stat: 'median',
            note: `median of ${bytes.length} single-query windows without a GC; ${space}`,
          }),
          {
            name: 'typed arrays created per query',
            value: typed.arrays / QUERIES,
            unit: '',
            variant: name,
            note: `${Math.round(typed.bytes / QUERIES)} bytes; counted over ${QUERIES} queries`,
          },
          measured('collections per 1,000 queries', '', loops.map((l) => l.gcCount * per1k), {
            ...v,
            note: `${trials} loops of ${input.size.loop} queries`,
          }),
          measured('GC pause per 1,000 queries', 'ms', loops.map((l) => l.gcPauseMs * per1k), { ...v, note: 'PerformanceObserver gc entries' }),
          measured('p99 query latency in the loop', 'ms', loops.flatMap((l) => l.latencies), {
            ...v,
            stat: 'p99',
            note: `${trials * input.size.loop} queries`,
          }),
        );
      } catch (err) {
        ctx.log(`${name}: ${(err as Error).message}`);
      }
    }
    return { metrics };
  },
});
