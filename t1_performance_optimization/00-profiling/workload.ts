/**
 * The program that `profile.ts` runs under a profiler: build the index over Brown chunks with before.ts (default),
 * after.ts or your exercise.ts, then answer queries in a loop, one query per event-loop turn, for a few seconds (or a
 * fixed number of queries). Runnable alone too:
 *
 *     npx tsx t1_performance_optimization/00-profiling/workload.ts --impl exercise --docs 100 --seconds 2
 */
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setImmediate } from 'node:timers/promises';
import { REPO_ROOT } from '../../shared/util/paths.ts';
import { fail, numberFlag, parseCli, runMain } from '../../shared/util/cli.ts';
import type { Analyzer } from '../../shared/text/analyzer.ts';
import type { Chunk } from '../../shared/types.ts';
import { brownChunks, QUERIES } from './data.ts';
import type { Hit } from './scoring.ts';
import { dumpSourceMaps } from './sourcemaps.ts';

export const IMPLS = ['before', 'after', 'exercise'] as const;
export type Impl = (typeof IMPLS)[number];

/** What every implementation of the lesson exports (before.ts, after.ts, exercise.ts). */
export interface SearchModule {
  buildIndex(chunks: Chunk[], analyzer?: Analyzer): { size: number; search(query: string, k: number): Hit[] };
}

export function isImpl(x: string | undefined): x is Impl {
  return (IMPLS as readonly string[]).includes(x ?? '');
}

/** Load an implementation by name (exercise.ts only when asked for, so a half-done exercise breaks nothing else). */
export async function loadImpl(impl: Impl): Promise<SearchModule> {
  return (await import(`./${impl}.ts`)) as SearchModule;
}

const USAGE = `
Usage: npx tsx t1_performance_optimization/00-profiling/workload.ts [--impl before|after|exercise] [--docs N]
                                                                  [--seconds S | --queries N]

Builds the lesson's index over the first N Brown documents and answers queries in a loop (top 10), one per turn of
the event loop, as a server answers requests.

Options:
  --impl NAME   before (default), after, or exercise (yours)
  --docs N      Brown documents to chunk, 1-500 (default 100: about 1,300 chunks)
  --seconds S   answer queries for S seconds (default 2), rotating over ${QUERIES.length} fixed queries
  --queries N   answer exactly N queries instead
`;

export interface WorkloadResult {
  impl: Impl;
  chunks: number;
  queries: number;
  buildMs: number;
  queryMs: number;
}

export interface WorkloadRun {
  /** Stop after this many queries... */
  queries?: number;
  /** ...or after this many ms of queries (default 2000); at least one query either way. */
  ms?: number;
}

export async function runWorkload(impl: Impl, docs: number, run: WorkloadRun = {}): Promise<WorkloadResult> {
  const chunks = await brownChunks(docs);
  const mod = await loadImpl(impl);
  const t0 = performance.now();
  const index = mod.buildIndex(chunks);
  const t1 = performance.now();
  const budget = run.ms ?? 2_000;
  let hits = 0;
  let q = 0;
  while (q === 0 || (run.queries !== undefined ? q < run.queries : performance.now() - t1 < budget)) {
    hits += index.search(QUERIES[q % QUERIES.length], 10).length;
    q++;
    // one query per event-loop turn, as a server answers requests: timers (clinic doctor's sampler) get to run
    await setImmediate();
  }
  const t2 = performance.now();
  if (hits === 0) throw new Error(`${impl}.ts: no query found anything (is search returning its hits?)`);
  return { impl, chunks: chunks.length, queries: q, buildMs: t1 - t0, queryMs: t2 - t1 };
}

function main(): Promise<void> {
  const { values } = parseCli(USAGE, {
    impl: { type: 'string', default: 'before' },
    docs: { type: 'string' },
    seconds: { type: 'string' },
    queries: { type: 'string' },
  });
  const impl = values.impl;
  if (!isImpl(impl)) fail(`--impl must be one of ${IMPLS.join(', ')}, got "${impl}"`);
  if (values.seconds !== undefined && values.queries !== undefined) fail('choose one: --seconds or --queries');
  const docs = numberFlag('docs', values.docs, 100, (n) => Number.isInteger(n) && n >= 1 && n <= 500);
  const seconds = numberFlag('seconds', values.seconds, 2, (n) => n > 0);
  const queries = values.queries === undefined ? undefined : numberFlag('queries', values.queries, 1, (n) => Number.isInteger(n) && n >= 1);
  return runWorkload(impl, docs, queries !== undefined ? { queries } : { ms: seconds * 1000 }).then((r) => {
    process.stdout.write(
      `workload: ${r.impl}.ts, ${r.chunks} chunks, build ${r.buildMs.toFixed(0)} ms, ` +
        `${r.queries} queries in ${r.queryMs.toFixed(0)} ms (${(r.queryMs / r.queries).toFixed(3)} ms/query)\n`,
    );
  });
}

if (process.argv[1] !== undefined && import.meta.url.endsWith(process.argv[1].replace(/\\/g, '/'))) {
  // profile.ts asks for the TypeScript source maps, to name the lines of the profile (see sourcemaps.ts)
  const mapsFile = process.env.LAB_PROFILE_SOURCEMAPS;
  if (mapsFile) {
    process.once('exit', () => dumpSourceMaps(mapsFile, [join(REPO_ROOT, 'shared'), join(REPO_ROOT, 't1_performance_optimization')]));
  }
  runMain(main);
}
