/**
 * Benchmark for 11-sharding: one hybrid query (BM25 top-10 and exact cosine top-10 over the same chunks) against one
 * index on the main thread (before.ts) and against the collection split into 1, 2 and 4 hash-partitioned shards on as
 * many worker threads, searched in parallel and merged (after.ts).
 *
 * Headline: the mean time of one query (the call the variants time). On a 2-core machine 2 shards on 2 threads is the
 * honest case; 4 shards on 4 threads share the same 2 cores, and 1 shard on 1 thread shows what the messages alone
 * cost. Extras: the build time (open: threads started, chunks analysed and indexed, statistics summed; three builds
 * each) and the share of queries answered exactly as one index answers them.
 *
 * Run: npm run t2 -- --only 11-sharding [--quick] [--impl exercise]
 */
import { performance } from 'node:perf_hooks';
import { defineLesson, EXERCISE, type Metric } from '../../shared/lab/lesson.ts';
import { measured } from '../../shared/lab/metric.ts';
import * as after from './after.ts';
import * as before from './before.ts';
import { loadWorkload, type Workload } from './corpus.ts';

const K = 10;
const QUERIES = 32;

interface Size {
  /** Chunks indexed (Brown's first, then generated). */
  chunks: number;
  /** Builds per variant for the build-time figure (the one made in setup included). */
  builds: number;
}

type OpenFn = (corpus: after.Corpus, opts: after.SearchOptions) => Promise<after.Searcher>;

interface Variant {
  open: OpenFn;
  shards: number;
}

/** Every measured variant: how it opens, with how many shards. */
const VARIANTS: Record<string, Variant> = {
  before: { open: before.openSearcher, shards: 1 },
  '1 shard, 1 thread': { open: after.openSearcher, shards: 1 },
  after: { open: after.openSearcher, shards: 2 },
  '4 shards, 4 threads': { open: after.openSearcher, shards: 4 },
};

interface Input {
  size: Size;
  workload: Workload;
  variants: Record<string, Variant>;
  searchers: Map<string, after.Searcher>;
  /** Build time of each variant's searcher, ms (the first sample of the build-time figure). */
  buildMs: Map<string, number>;
  cursor: Record<string, number>;
}

async function timedOpen(v: Variant, corpus: after.Corpus): Promise<{ searcher: after.Searcher; ms: number }> {
  const t0 = performance.now();
  const searcher = await v.open(corpus, { shards: v.shards });
  return { searcher, ms: performance.now() - t0 };
}

function query(input: Input, variant: string): Promise<after.Results> {
  const i = input.cursor[variant] ?? 0;
  input.cursor[variant] = i + 1;
  return input.searchers.get(variant)!.search(input.workload.queries[i % QUERIES], K);
}

const same = (a: after.Results, b: after.Results) => JSON.stringify(a) === JSON.stringify(b);

export default defineLesson<Size, Input>({
  id: 't2/11-sharding',
  title: 'Sharding: one index vs. N hash-partitioned shards on worker threads',
  workload:
    `one hybrid query (BM25 top-${K} + exact cosine top-${K}; ${QUERIES} real Brown sentences in rotation) against n ` +
    'Brown(-generated) chunks embedded with SIF/GloVe-100d: one index on the main thread, or 1, 2, 4 shards on worker threads',
  sizes: { quick: { chunks: 2_000, builds: 2 }, full: { chunks: 50_000, builds: 3 } },
  setup: async (size, ctx) => {
    const workload = await loadWorkload({ chunks: size.chunks, queries: QUERIES, log: ctx.log });
    const variants: Record<string, Variant> = { ...VARIANTS };
    const ex = ctx.exercise as typeof after | undefined;
    if (ex) variants[EXERCISE] = { open: ex.openSearcher, shards: 2 };
    const input: Input = { size, workload, variants, searchers: new Map(), buildMs: new Map(), cursor: {} };
    try {
      for (const [name, v] of Object.entries(variants)) {
        ctx.log(`building ${name} (${v.shards} shard${v.shards > 1 ? 's' : ''})`);
        const { searcher, ms } = await timedOpen(v, workload.corpus);
        input.searchers.set(name, searcher);
        input.buildMs.set(name, ms);
      }
    } catch (err) {
      await Promise.all([...input.searchers.values()].map((s) => s.close()));
      throw err;
    }
    return input;
  },
  teardown: async (input) => {
    await Promise.all([...input.searchers.values()].map((s) => s.close()));
  },
  baseline: 'before',
  headline: { name: `time per hybrid query (BM25 + exact cosine, top ${K})`, unit: 'ms', better: 'lower' },
  variants: Object.fromEntries(Object.keys(VARIANTS).map((name) => [name, (input: Input) => query(input, name)])),
  exercise: (input) => query(input, EXERCISE),
  extras: async (input, ctx) => {
    const metrics: Metric[] = [];
    const { workload } = input;
    // exactness: every query, each variant against one index
    const one = input.searchers.get('before')!;
    const want = await Promise.all(workload.queries.map((q) => one.search(q, K)));
    for (const name of input.searchers.keys()) {
      const s = input.searchers.get(name)!;
      const same100: number[] = [];
      for (let i = 0; i < workload.queries.length; i++) same100.push(same(await s.search(workload.queries[i], K), want[i]) ? 100 : 0);
      metrics.push(measured('queries answered exactly as one index', '%', same100, { variant: name, note: `${QUERIES} queries, labels and scores` }));
    }
    // build time: more builds of every variant, interleaved (the one from setup is the first sample)
    const builds = new Map<string, number[]>();
    for (const [name, ms] of input.buildMs) builds.set(name, [ms]);
    for (let b = 1; b < input.size.builds; b++) {
      for (const [name, v] of Object.entries(input.variants)) {
        ctx.log(`build ${b + 1}/${input.size.builds}: ${name}`);
        const { searcher, ms } = await timedOpen(v, workload.corpus);
        await searcher.close();
        builds.get(name)!.push(ms);
      }
    }
    for (const [name, samples] of builds) {
      const v = input.variants[name];
      metrics.push(
        measured('build time', 'ms', samples, {
          variant: name,
          note: name === 'before' ? 'one index, main thread' : `open: ${v.shards} thread(s) started, shards built in parallel`,
        }),
      );
    }
    return { metrics };
  },
});
