/**
 * Profile a function inside the running process with the inspector (the same V8 sampler `node --cpu-prof` uses).
 * The benchmark uses it for its metrics (what share of a query's time goes to a given function), and run as a
 * command it profiles only the queries of one implementation: no start-up, no loading, no index build in the table.
 *
 *     npx tsx t1_performance_optimization/00-profiling/profile-in-process.ts --impl exercise
 */
import { Session } from 'node:inspector/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { REPO_ROOT } from '../../shared/util/paths.ts';
import { fail, numberFlag, parseCli, runMain } from '../../shared/util/cli.ts';
import { formatSummaryLines, summarizeCpuProfile, type CpuProfile } from './cpuprofile.ts';
import { brownChunks, QUERIES } from './data.ts';
import { collectSourceMaps, resolverOf } from './sourcemaps.ts';
import { IMPLS, isImpl, loadImpl } from './workload.ts';

/** Run `work` under the V8 CPU profiler (sampling every `intervalUs` µs) and return the profile. */
export async function profileInProcess(work: () => unknown, intervalUs = 200): Promise<CpuProfile> {
  const session = new Session();
  session.connect();
  try {
    await session.post('Profiler.enable');
    await session.post('Profiler.setSamplingInterval', { interval: intervalUs });
    await session.post('Profiler.start');
    let failure: unknown;
    try {
      await work();
    } catch (err) {
      failure = err;
    }
    const { profile } = await session.post('Profiler.stop');
    await session.post('Profiler.disable');
    if (failure !== undefined) throw failure;
    return profile as unknown as CpuProfile;
  } finally {
    session.disconnect();
  }
}

const USAGE = `
Usage: npx tsx t1_performance_optimization/00-profiling/profile-in-process.ts [--impl NAME] [options]

Builds the index (not profiled), then profiles only the queries, in this process, and prints the functions with the
most self time and the heaviest call path. Quicker to read than profile.ts: no start-up or loading in the table.

Options:
  --impl NAME    before (default), after, or exercise (yours)
  --docs N       Brown documents to chunk, 1-500 (default 100: about 1,300 chunks)
  --seconds S    answer queries for S seconds (default 2)
  --top N        rows in the table (default 15)
`;

async function main(): Promise<void> {
  const { values } = parseCli(USAGE, {
    impl: { type: 'string', default: 'before' },
    docs: { type: 'string' },
    seconds: { type: 'string' },
    top: { type: 'string' },
  });
  const impl = values.impl;
  if (!isImpl(impl)) fail(`--impl must be one of ${IMPLS.join(', ')}, got "${impl}"`);
  const docs = numberFlag('docs', values.docs, 100, (n) => Number.isInteger(n) && n >= 1 && n <= 500);
  const seconds = numberFlag('seconds', values.seconds, 2, (n) => n > 0);
  const top = numberFlag('top', values.top, 15, (n) => Number.isInteger(n) && n >= 1);
  const log = (line = '') => process.stdout.write(`${line}\n`);

  const chunks = await brownChunks(docs);
  const mod = await loadImpl(impl);
  const index = mod.buildIndex(chunks);
  let queries = 0;
  const profile = await profileInProcess(() => {
    const t0 = performance.now();
    while (queries === 0 || performance.now() - t0 < seconds * 1000) index.search(QUERIES[queries++ % QUERIES.length], 10);
  });
  const s = summarizeCpuProfile(profile, {
    root: REPO_ROOT,
    resolve: resolverOf(collectSourceMaps([join(REPO_ROOT, 'shared'), join(REPO_ROOT, 't1_performance_optimization')])),
  });
  log(`${impl}.ts: ${chunks.length} chunks, ${queries} queries in ${(s.sampledMs / 1000).toFixed(2)} s sampled ` +
    `(${(s.sampledMs / queries).toFixed(3)} ms per query)`);
  log();
  for (const line of formatSummaryLines(s, top)) log(line);
}

if (process.argv[1] !== undefined && import.meta.url.endsWith(process.argv[1].replace(/\\/g, '/'))) runMain(main);
