/**
 * The program that `profile.ts` runs under a profiler: build the index over Brown chunks, then answer queries in a
 * loop with before.ts (default) or after.ts, one query per event-loop turn. Runnable alone too:
 *
 *     npx tsx t1_performance_optimization/00-profiling/workload.ts --impl before --docs 100 --queries 40
 */
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setImmediate } from 'node:timers/promises';
import { REPO_ROOT } from '../../shared/util/paths.ts';
import { numberFlag, parseCli, runMain } from '../../shared/util/cli.ts';
import * as after from './after.ts';
import * as before from './before.ts';
import { brownChunks, QUERIES } from './data.ts';
import { dumpSourceMaps } from './sourcemaps.ts';

const USAGE = `
Usage: npx tsx t1_performance_optimization/00-profiling/workload.ts [--impl before|after] [--docs N] [--queries N]

Builds the lesson's index over the first N Brown documents and answers queries in a loop (top 10).

Options:
  --impl before|after   which implementation (default before)
  --docs N              Brown documents to chunk, 1-500 (default 100)
  --queries N           queries to answer, rotating over ${QUERIES.length} (default 40)
`;

export interface WorkloadResult {
  impl: 'before' | 'after';
  chunks: number;
  queries: number;
  buildMs: number;
  queryMs: number;
}

export async function runWorkload(impl: 'before' | 'after', docs: number, queries: number): Promise<WorkloadResult> {
  const chunks = await brownChunks(docs);
  const mod = impl === 'before' ? before : after;
  const t0 = performance.now();
  const index = mod.buildIndex(chunks);
  const t1 = performance.now();
  let hits = 0;
  for (let q = 0; q < queries; q++) {
    hits += mod.search(index as never, QUERIES[q % QUERIES.length], 10).length;
    // one query per event-loop turn, as a server answers requests: timers (clinic doctor's sampler) get to run
    await setImmediate();
  }
  const t2 = performance.now();
  if (hits === 0) throw new Error('no query found anything: the workload is broken');
  return { impl, chunks: chunks.length, queries, buildMs: t1 - t0, queryMs: t2 - t1 };
}

function main(): Promise<void> {
  const { values } = parseCli(USAGE, {
    impl: { type: 'string', default: 'before' },
    docs: { type: 'string' },
    queries: { type: 'string' },
  });
  const impl = values.impl;
  if (impl !== 'before' && impl !== 'after') {
    process.stderr.write(`error: --impl must be before or after, got "${impl}"\n`);
    process.exit(2);
  }
  const docs = numberFlag('docs', values.docs, 100, (n) => Number.isInteger(n) && n >= 1 && n <= 500);
  const queries = numberFlag('queries', values.queries, 40, (n) => Number.isInteger(n) && n >= 1);
  return runWorkload(impl, docs, queries).then((r) => {
    process.stdout.write(
      `workload: ${r.impl}, ${r.chunks} chunks, build ${r.buildMs.toFixed(0)} ms, ` +
        `${r.queries} queries in ${r.queryMs.toFixed(0)} ms (${(r.queryMs / r.queries).toFixed(2)} ms/query)\n`,
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
