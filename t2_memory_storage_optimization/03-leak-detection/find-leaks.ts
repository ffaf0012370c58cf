/**
 * Find the leaks of a query server with heap snapshots, the way one would on a live service:
 *
 *   1. start the server as its own process with `node --heapsnapshot-signal=SIGUSR2` (serve-child.ts);
 *   2. warm it up, then `kill -USR2` it: snapshot 1, the baseline;
 *   3. send a burst of unique queries, `kill -USR2`: snapshot 2, the target;
 *   4. send a second burst as large, `kill -USR2`: snapshot 3, the final;
 *   5. memlab: objects allocated between 1 and 2 and still alive in 3, kept by a leak filter written for a server
 *      (leak-filter.ts), clustered by retainer path, each cluster printed with the path that keeps it alive.
 *
 *     npx tsx t2_memory_storage_optimization/03-leak-detection/find-leaks.ts [--impl before|after|exercise]
 *                                            [--requests 1000] [--docs 12] [--keep]
 *
 * Each snapshot of a process with the engine loaded is over ten MB and takes seconds to write and to parse: expect a
 * minute or more. Snapshots go to a temporary folder, removed at the end unless --keep. `--docs stub` serves a
 * stand-in engine instead (smaller snapshots: what the test of this tool uses).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { REPO_ROOT } from '../../shared/util/paths.ts';
import { serverLeakFilter, type LeakGroup } from './leak-filter.ts';
import { drive, uniqueQueries } from './workload.ts';
import { loadBrown } from '../../shared/corpus/brown.ts';

export interface LeakReport {
  impl: string;
  warmup: number;
  requests: number;
  /** Heap snapshot files (baseline, target, final) and their sizes. */
  snapshots: Array<{ file: string; bytes: number }>;
  /** The holders that gained about an object per request of the first burst, biggest first. */
  leaks: LeakGroup[];
  ms: { snapshots: number; analysis: number };
}

export interface FindLeaksOptions {
  impl: 'before' | 'after' | 'exercise';
  /** Unique queries per burst. */
  requests: number;
  /** Brown documents in the server's engine, or 'stub' for a stand-in engine (small snapshots; tests). */
  docs: number | 'stub';
  /**
   * The server's results cache cap. Default 1 MiB: the warm-up fills it and each burst cycles it several times, so
   * the cache's entries from the first burst are gone by the final snapshot (with a cap larger than a burst, a bounded
   * cache that is still filling up looks exactly like a leak).
   */
  cacheBytes?: number;
  /** Requests before the baseline snapshot. Default 400. */
  warmup?: number;
  /** Keep the snapshots (their folder is printed). Default false. */
  keep?: boolean;
  /** Progress lines. Default: stderr. */
  log?: (msg: string) => void;
}

const HERE = fileURLToPath(new URL('.', import.meta.url));

/** Sends SIGUSR2 and waits until the snapshot file is written (the server answers /healthz only once it is). */
async function snapshot(pid: number, url: string, dir: string): Promise<string> {
  const before = new Set(readdirSync(dir));
  process.kill(pid, 'SIGUSR2');
  let file: string | undefined;
  for (let i = 0; i < 6000 && file === undefined; i++) {
    file = readdirSync(dir).find((f) => f.endsWith('.heapsnapshot') && !before.has(f));
    if (file === undefined) await new Promise((r) => setTimeout(r, 10));
  }
  if (file === undefined) throw new Error(`no heap snapshot appeared in ${dir} within 60 s of SIGUSR2`);
  // the snapshot is written on the server's main thread: a request is answered only after it is complete
  const res = await fetch(`${url}/healthz`);
  await res.arrayBuffer();
  return join(dir, file);
}

/**
 * Runs `fn` with os.tmpdir() pointing into `dir` (removed at the end): memlab creates its default working folders,
 * os.tmpdir()/memlab/{chrome,input}, whenever it is loaded or analyses, whatever workDir it is given.
 */
async function withTmpDir<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  const saved = process.env.TMPDIR;
  process.env.TMPDIR = dir;
  try {
    return await fn();
  } finally {
    if (saved === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = saved;
  }
}

export async function findLeaks(opts: FindLeaksOptions): Promise<LeakReport> {
  const log = opts.log ?? ((msg: string) => process.stderr.write(`[find-leaks] ${msg}\n`));
  const dir = mkdtempSync(join(tmpdir(), 'lab-leaks-'));
  const child = spawn(
    process.execPath,
    ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${dir}`, '--import', 'tsx', join(HERE, 'serve-child.ts'), opts.impl, String(opts.docs), String(opts.cacheBytes ?? 1 << 20)],
    { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  try {
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout!.on('data', (d) => {
        out += d;
        const line = out.split('\n').find((l) => l.startsWith('{'));
        if (line) resolve((JSON.parse(line) as { url: string }).url);
      });
      child.once('exit', (code) => reject(new Error(`the server exited (${code}) before listening`)));
    });
    const warmup = opts.warmup ?? 400;
    const queries = uniqueQueries(await loadBrown({ limit: 12 }), warmup + 2 * opts.requests, 5);
    const t0 = performance.now();
    log(`${opts.impl}: warm-up, ${warmup} requests`);
    await drive(url, queries, 0, warmup);
    const files = [await snapshot(child.pid!, url, dir)];
    log(`baseline written; burst of ${opts.requests} unique queries`);
    await drive(url, queries, warmup, opts.requests);
    files.push(await snapshot(child.pid!, url, dir));
    log(`target written; second burst of ${opts.requests}`);
    await drive(url, queries, warmup + opts.requests, opts.requests);
    files.push(await snapshot(child.pid!, url, dir));
    const snapMs = performance.now() - t0;
    child.kill('SIGTERM');
    await exited;

    log(`final written; memlab find-leaks over the three snapshots (this parses them: it takes a while)`);
    const t1 = performance.now();
    const filter = serverLeakFilter({ requests: opts.requests });
    await withTmpDir(dir, async () => {
      const memlab = await import('memlab');
      memlab.config.externalLeakFilter = filter;
      await memlab.findLeaksBySnapshotFilePaths(files[0], files[1], files[2], {
        workDir: join(dir, 'memlab'),
        consoleMode: memlab.ConsoleMode.SILENT,
      });
    });
    return {
      impl: opts.impl,
      warmup,
      requests: opts.requests,
      snapshots: files.map((file) => ({ file, bytes: statSync(file).size })),
      leaks: filter.groups.map((g) => ({ ...g, path: [...g.path] })),
      ms: { snapshots: snapMs, analysis: performance.now() - t1 },
    };
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    if (!opts.keep) rmSync(dir, { recursive: true, force: true });
    else log(`snapshots kept in ${dir}`);
  }
}

/** The report as the command prints it: the snapshots, then each leak with its count, size and retainer path. */
export function formatReport(r: LeakReport): string {
  const mb = (b: number) => `${(b / 1048576).toFixed(1)} MB`;
  const out = [
    `${r.impl}: 3 heap snapshots (${r.snapshots.map((s) => mb(s.bytes)).join(', ')}) written in ${(r.ms.snapshots / 1000).toFixed(1)} s ` +
      `(with ${r.warmup} + 2 × ${r.requests} requests), analysed by memlab in ${(r.ms.analysis / 1000).toFixed(1)} s`,
    `leaks (holders that gained ≥ ${Math.ceil(r.requests / 2)} objects in ${r.requests} requests, still held after ${r.requests} more): ${r.leaks.length}`,
  ];
  for (const g of r.leaks) {
    out.push('', `${g.holder} gained ${g.added} objects (${g.kinds.join(', ')}), retaining ${mb(g.retainedBytes)}; retainer path:`);
    for (const step of g.path) out.push(`  ${step}`);
  }
  return out.join('\n');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const arg = (name: string, dflt: string) => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 ? process.argv[i + 1] : dflt;
  };
  const impl = arg('impl', 'before');
  if (impl !== 'before' && impl !== 'after' && impl !== 'exercise') throw new Error(`--impl: before, after or exercise, not "${impl}"`);
  const docs = arg('docs', '12');
  const report = await findLeaks({
    impl,
    requests: Number(arg('requests', '1000')),
    docs: docs === 'stub' ? 'stub' : Number(docs),
    keep: process.argv.includes('--keep'),
  });
  console.log(formatReport(report));
}
