/**
 * npm run bench:memory -- [--scale 100000] [--index <dir>] [--json]
 *
 * Where a serving engine's memory goes: RSS, V8 heap, external/arrayBuffers, and bytes per chunk by structure
 * (vectors, HNSW graph, BM25 postings and dictionary, chunk text, sentence table, metadata, embedder table).
 *
 * Two views of the same engine, printed side by side:
 *   - counted: each structure reports its own bytes (`Engine.memory()`: typed-array byteLength, the native index's
 *     layout and file size, string lengths). Exact for what it covers; JS object and Map/Set entry overheads are not
 *     in it;
 *   - measured: the engine is loaded part by part (`loadEngine` hooks) in a fresh process started with --expose-gc,
 *     and the growth of RSS, heap and external memory after each part (two forced GCs first) is that part's real
 *     cost, overheads included.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setImmediate as tick } from 'node:timers/promises';
import v8 from 'node:v8';
import { loadBrown } from '../corpus/brown.ts';
import { loadEngine, type EngineMemory } from '../engine.ts';
import { knownItemQueries } from '../eval/known-item.ts';
import { mmapAvailable } from '../index/mmap.ts';
import { collectEnv, formatEnvLines, makeRunId, type RunEnv } from '../lab/env.ts';
import { buildIndex } from '../serve/build-index.ts';
import { fail, numberFlag, parseCli, runMain } from '../util/cli.ts';
import { REPO_ROOT } from '../util/paths.ts';

const USAGE = `Usage: npm run bench:memory -- [options]

Loads a saved engine in a fresh process, part by part, and prints RSS, V8 heap, external memory and bytes per chunk
by structure, both counted from the structures and measured as each part loads. Without --index it first builds
(or reuses) the index at --scale chunks, as npm run index -- --scale N does. Writes reports/bench/memory-<run>.json.

Options:
  --scale <n>     corpus size in chunks when building (default 100000)
  --index <dir>   measure this saved index instead of building one
  --out <dir>     where the built index goes (default .cache/idx-<scale>); reused when it already holds an index
                  built at that scale, unless --rebuild
  --rebuild       build even when --out holds an index
  --queries <n>   hybrid queries with answers run after loading, before the last measurement (default 500); then
                  a few filtered ones, which build the metadata index
  --seed <n>      generator seed when building (default 42)
  --serve         instead: start npm run serve on the index (all its processes: npm, tsx, the server, its
                  workers), wait until it is ready, run npm run loadtest against it, and report the RSS (and PSS,
                  shared pages counted once) of the whole process tree, after loading and at its peak under load
  --workers <n>   with --serve: worker processes (default 1)
  --duration <s>  with --serve: seconds of load (default 20)
  --connections <n>  with --serve: load-test connections (default 32)
  --port <p>      with --serve: port (default 18080)
  --no-mmap       read the index files into each process (RAG_MMAP=0) instead of mapping them
                  (shared/index/mmap.ts): the before of "one copy of the index per machine"
  --json          print the results as JSON on stdout (progress stays on stderr)
  -h, --help      this text
`;

interface Sample {
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
  /** From /proc/self/status (Linux): anonymous and file-backed resident pages. */
  rssAnon?: number;
  rssFile?: number;
  /** V8's malloc'd memory outside the heap. */
  malloced: number;
}

interface Step {
  step: string;
  what: string;
  after: Sample;
  delta: Sample;
  ms: number;
}

export interface MemoryReport {
  env: RunEnv;
  index: string;
  chunks: number;
  documents: number;
  build?: { seconds: number; peakRssMB: number };
  steps: Step[];
  parts: (EngineMemory['parts'][number] & { bytesPerChunk: number })[];
  final: Sample;
  peakRssMB: number;
}

const WHAT: Record<string, string> = {
  baseline: 'Node, modules, query texts',
  embedder: 'embedder table (GloVe words, vectors, weights)',
  bm25: 'BM25 postings, dictionary, forward lists, per-label arrays',
  vectors: 'vector index (vectors + graph)',
  sentences: 'sentence table',
  chunks: 'chunk objects (text, ids, metadata), document table',
  queries: 'after the queries (search scratch, caches, lazily built parts)',
  filters: 'after filtered queries (metadata index)',
};

function procStatus(): { rssAnon?: number; rssFile?: number } {
  try {
    const text = readFileSync('/proc/self/status', 'utf8');
    const kb = (key: string) => {
      const m = text.match(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm'));
      return m ? Number(m[1]) * 1024 : undefined;
    };
    return { rssAnon: kb('RssAnon'), rssFile: kb('RssFile') };
  } catch {
    return {};
  }
}

async function sample(): Promise<Sample> {
  const gc = (globalThis as { gc?: () => void }).gc!;
  // two full GCs with a pause between, so array buffers freed by the first are swept (V8 frees them off-thread)
  for (let i = 0; i < 2; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 50));
    await tick();
  }
  const m = process.memoryUsage();
  const h = v8.getHeapStatistics();
  return { rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external, arrayBuffers: m.arrayBuffers, ...procStatus(), malloced: h.malloced_memory };
}

function minus(a: Sample, b: Sample): Sample {
  const d = {} as Record<string, number | undefined>;
  for (const key of Object.keys(a) as (keyof Sample)[]) {
    const x = a[key];
    const y = b[key];
    d[key] = x === undefined || y === undefined ? undefined : x - y;
  }
  return d as unknown as Sample;
}

/** The measurement proper, in this process (started with --expose-gc). */
async function measure(dir: string, nQueries: number, log: (m: string) => void): Promise<Omit<MemoryReport, 'env' | 'build'>> {
  const brown = await loadBrown();
  const texts = knownItemQueries(brown, { count: Math.max(1, nQueries), seed: 11 }).queries.map((q) => q.text);
  const genres = [...new Set(brown.map((d) => String(d.metadata?.genre)))].filter((g) => g !== 'undefined').slice(0, 5);
  brown.length = 0;

  const steps: Step[] = [];
  let last = await sample();
  let t = performance.now();
  steps.push({ step: 'baseline', what: WHAT.baseline, after: last, delta: last, ms: 0 });
  const record = async (step: string) => {
    const now = await sample();
    steps.push({ step, what: WHAT[step] ?? step, after: now, delta: minus(now, last), ms: performance.now() - t });
    log(`  ${step}: RSS ${(now.rss / 2 ** 20).toFixed(0)} MB (+${((now.rss - last.rss) / 2 ** 20).toFixed(1)}), heap ${(now.heapUsed / 2 ** 20).toFixed(0)} MB`);
    last = now;
    t = performance.now();
  };
  log(`loading ${dir} part by part`);
  const engine = await loadEngine(dir, { llm: null }, { loaded: record });

  if (nQueries > 0) {
    log(`${texts.length} hybrid queries with answers`);
    for (const q of texts) await engine.query(q, { k: 10 });
    await record('queries');
    if (genres.length > 0) {
      for (const g of genres) for (const q of texts.slice(0, 10)) await engine.query(q, { k: 10, filter: { genre: g } });
      await record('filters');
    }
  }
  const counted = engine.memory();
  const chunks = engine.stats().chunks;
  const final = await sample();
  return {
    index: dir,
    chunks,
    documents: engine.stats().documents,
    steps,
    parts: counted.parts.map((p) => ({ ...p, bytesPerChunk: chunks > 0 ? p.bytes / chunks : 0 })),
    final,
    peakRssMB: process.resourceUsage().maxRSS / 1024,
  };
}

function manifestChunks(dir: string): number | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')).stats?.chunks;
  } catch {
    return undefined;
  }
}

function format(r: MemoryReport): string {
  const mb = (n: number | undefined) => (n === undefined ? '–' : (n / 2 ** 20).toFixed(1));
  const sign = (n: number) => `${n >= 0 ? '+' : '−'}${mb(Math.abs(n))}`;
  const per = (n: number | undefined) => (n === undefined || r.chunks === 0 ? '–' : (n / r.chunks).toFixed(0));
  const lines = [
    ...formatEnvLines(r.env),
    '',
    `index     ${r.index}: ${r.chunks} chunks, ${r.documents} documents`,
    ...(r.build ? [`build     ${r.build.seconds.toFixed(0)} s, peak RSS ${r.build.peakRssMB.toFixed(0)} MB (the build process)`] : []),
    '',
    'Measured: growth while each part loads (after two forced GCs), fresh process',
    '',
    '| step | what | RSS MB | heap MB | external MB (arrayBuffers) | heap + external bytes/chunk |',
    '| --- | --- | ---: | ---: | ---: | ---: |',
    ...r.steps.map((s) =>
      s.step === 'baseline'
        ? `| baseline | ${s.what} | ${mb(s.after.rss)} | ${mb(s.after.heapUsed)} | ${mb(s.after.external)} (${mb(s.after.arrayBuffers)}) | |`
        : `| ${s.step} | ${s.what} | ${sign(s.delta.rss)} | ${sign(s.delta.heapUsed)} | ${sign(s.delta.external)} (${sign(s.delta.arrayBuffers)}) | ${per(s.delta.heapUsed + s.delta.external)} |`,
    ),
    `| **total** | | **${mb(r.final.rss)}** | ${mb(r.final.heapUsed)} (heap total ${mb(r.final.heapTotal)}) | ${mb(r.final.external)} (${mb(r.final.arrayBuffers)}) | ${per(r.final.heapUsed + r.final.external)} |`,
    '',
    'RSS grows by what a part touches beyond memory freed earlier (garbage of a previous part is reused), so the',
    'heap and external columns are the parts\' own sizes; native memory (hnswlib) shows in RSS only.',
    '',
    `RSS ${mb(r.final.rss)} MB (anonymous ${mb(r.final.rssAnon)}, file-backed ${mb(r.final.rssFile)}), peak ${r.peakRssMB.toFixed(0)} MB; V8 malloced ${mb(r.final.malloced)} MB`,
    'Index files mapped (shared/index/mmap.ts, parts marked "mapped" below) count whole in "external" when loaded and',
    'in file-backed RSS where touched; their pages are shared with every other process that maps the same files.',
    '',
    'Counted: bytes each structure reports (Engine.memory(): typed arrays, native layout, string lengths; object overheads not included)',
    '',
    '| structure | part | MB | bytes/chunk | how |',
    '| --- | --- | ---: | ---: | --- |',
    ...r.parts.map((p) => `| ${p.structure} | ${p.part} | ${mb(p.bytes)} | ${p.bytesPerChunk.toFixed(0)} | ${p.how} |`),
    `| **total counted** | | **${mb(r.parts.reduce((a, p) => a + p.bytes, 0))}** | ${per(r.parts.reduce((a, p) => a + p.bytes, 0))} | |`,
    '',
  ];
  return lines.join('\n');
}

runMain(async () => {
  const { values } = parseCli(USAGE, {
    scale: { type: 'string' },
    index: { type: 'string' },
    out: { type: 'string' },
    rebuild: { type: 'boolean', default: false },
    queries: { type: 'string' },
    seed: { type: 'string' },
    json: { type: 'boolean', default: false },
    child: { type: 'boolean', default: false },
    serve: { type: 'boolean', default: false },
    workers: { type: 'string' },
    duration: { type: 'string' },
    connections: { type: 'string' },
    port: { type: 'string' },
    'no-mmap': { type: 'boolean', default: false },
  });
  if (values['no-mmap']) process.env.RAG_MMAP = '0';
  const scale = numberFlag('scale', values.scale, 100_000, (n) => Number.isInteger(n) && n > 0);
  const nQueries = numberFlag('queries', values.queries, 500, (n) => Number.isInteger(n) && n >= 0);
  const seed = numberFlag('seed', values.seed, 42, Number.isInteger);
  const log = (msg: string) => process.stderr.write(`${msg}\n`);

  // the measurement runs in a fresh child with --expose-gc; it prints its JSON on stdout
  if (values.child) {
    if (!values.index) fail('--child needs --index');
    const r = await measure(resolve(values.index), nQueries, log);
    process.stdout.write(JSON.stringify(r) + '\n');
    return;
  }

  const env = collectEnv(REPO_ROOT, 'full');
  let dir: string;
  let build: MemoryReport['build'];
  if (values.index) {
    dir = resolve(values.index);
    if (!existsSync(join(dir, 'manifest.json'))) fail(`no saved index in ${values.index} (manifest.json missing)`);
  } else {
    dir = resolve(values.out ?? join(REPO_ROOT, '.cache', `idx-${scale}`));
    const have = manifestChunks(dir);
    if (have !== undefined && !values.rebuild && Math.abs(have - scale) <= Math.max(100, scale * 0.01)) {
      log(`reusing ${dir} (${have} chunks; --rebuild to build it again)`);
    } else {
      log(`building ${scale} chunks into ${dir} (npm run index -- --scale ${scale} --out ${dir})`);
      const t0 = performance.now();
      await buildIndex({ scale, seed, out: dir, log });
      build = { seconds: (performance.now() - t0) / 1000, peakRssMB: process.resourceUsage().maxRSS / 1024 };
    }
  }

  if (values.serve) {
    const r = await measureServe(dir, {
      workers: numberFlag('workers', values.workers, 1, (n) => Number.isInteger(n) && n > 0),
      duration: numberFlag('duration', values.duration, 20, (n) => n > 0),
      connections: numberFlag('connections', values.connections, 32, (n) => Number.isInteger(n) && n > 0),
      port: numberFlag('port', values.port, 18080, (n) => Number.isInteger(n) && n > 0 && n < 65536),
      log,
    });
    const report = { env, index: dir, ...r };
    const out = join(REPO_ROOT, 'reports', 'bench');
    mkdirSync(out, { recursive: true });
    const file = join(out, `memory-serve-${makeRunId(new Date(env.date), env.commit, env.dirty)}.json`);
    writeFileSync(file, JSON.stringify(report, null, 2));
    if (values.json) process.stdout.write(JSON.stringify(report) + '\n');
    else process.stdout.write(formatServe(report) + `results   ${file}\n`);
    return;
  }

  const child = spawnSync(
    process.execPath,
    ['--expose-gc', '--import', 'tsx', join(REPO_ROOT, 'shared/bench/memory.ts'), '--child', '--index', dir, '--queries', String(nQueries)],
    { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8', maxBuffer: 64 * 2 ** 20 },
  );
  if (child.status !== 0) throw new Error(`the measuring process exited with ${child.status ?? child.signal}`);
  const measured = JSON.parse(child.stdout.trim().split('\n').pop()!) as Omit<MemoryReport, 'env' | 'build'>;
  const report: MemoryReport = { env, ...measured, ...(build ? { build } : {}) };

  const out = join(REPO_ROOT, 'reports', 'bench');
  mkdirSync(out, { recursive: true });
  const file = join(out, `memory-${makeRunId(new Date(env.date), env.commit, env.dirty)}.json`);
  writeFileSync(file, JSON.stringify(report, null, 2));
  if (values.json) {
    process.stdout.write(JSON.stringify(report) + '\n');
    return;
  }
  process.stdout.write(format(report) + `results   ${file}\n`);
});

// ------------------------------------------------------------------------------------------------ --serve

interface TreeSample {
  /** Processes in the tree. */
  processes: number;
  rss: number;
  pss: number;
  /** Per process: pid, command, RSS, PSS. */
  each: { pid: number; command: string; rss: number; pss: number }[];
}

/** The process tree under `root` (itself included), from /proc: RSS and PSS (smaps_rollup) of each process. */
function treeMemory(root: number): TreeSample {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (!children.has(ppid)) children.set(ppid, []);
      children.get(ppid)!.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  const each: TreeSample['each'] = [];
  const visit = (pid: number) => {
    try {
      const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
      const kb = (key: string) => Number(rollup.match(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm'))?.[1] ?? 0) * 1024;
      const command = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).slice(0, 4).join(' ');
      each.push({ pid, command, rss: kb('Rss'), pss: kb('Pss') });
    } catch {
      // gone meanwhile
    }
    for (const c of children.get(pid) ?? []) visit(c);
  };
  visit(root);
  return { processes: each.length, rss: each.reduce((a, p) => a + p.rss, 0), pss: each.reduce((a, p) => a + p.pss, 0), each };
}

async function measureServe(
  dir: string,
  o: { workers: number; duration: number; connections: number; port: number; log: (m: string) => void },
) {
  const tmp = mkdtempSync(join(tmpdir(), 'rag-memory-serve-'));
  const args = ['run', 'serve', '--', '--index', dir, '--port', String(o.port), '--workers', String(o.workers), '--data-dir', join(tmp, 'data'), '--keys-file', join(tmp, 'keys.json')];
  o.log(`starting npm ${args.join(' ')}`);
  const t0 = performance.now();
  const server = spawn('npm', args, { cwd: REPO_ROOT, detached: true, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  server.stderr!.on('data', (d) => (stderr = (stderr + d).slice(-4000)));
  const stop = () => {
    try {
      process.kill(-server.pid!, 'SIGTERM');
    } catch {
      // already gone
    }
  };
  process.on('exit', stop);
  try {
    const url = `http://127.0.0.1:${o.port}`;
    for (;;) {
      if (server.exitCode !== null) throw new Error(`npm run serve exited with ${server.exitCode}: ${stderr}`);
      try {
        if ((await fetch(`${url}/readyz`)).status === 200) break;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 500));
    }
    const readyMs = performance.now() - t0;
    o.log(`ready after ${(readyMs / 1000).toFixed(1)} s`);
    await new Promise((r) => setTimeout(r, 2000));
    const loaded = treeMemory(server.pid!);
    o.log(`service after loading: ${loaded.processes} processes, RSS ${(loaded.rss / 2 ** 20).toFixed(0)} MB, PSS ${(loaded.pss / 2 ** 20).toFixed(0)} MB`);
    let peak = loaded;
    const sampler = setInterval(() => {
      const s = treeMemory(server.pid!);
      if (s.rss > peak.rss) peak = s;
    }, 500);
    const load = spawn('npm', ['run', '--silent', 'loadtest', '--', '--url', url, '--workload', 'uniform', '--duration', String(o.duration), '--connections', String(o.connections), '--no-save', '--json'], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    load.stdout!.on('data', (d) => (out += d));
    const code: number = await new Promise((r) => load.on('exit', (c) => r(c ?? 1)));
    clearInterval(sampler);
    const after = treeMemory(server.pid!);
    if (after.rss > peak.rss) peak = after;
    if (code !== 0) throw new Error(`npm run loadtest exited with ${code}`);
    const result = (JSON.parse(out) as { qps: number; latency: unknown; non2xx: number; errors: number }[])[0];
    return {
      workers: o.workers,
      readySeconds: readyMs / 1000,
      loaded,
      peak,
      after,
      load: { workload: 'uniform', connections: o.connections, duration: o.duration, qps: result.qps, latency_ms: result.latency, non2xx: result.non2xx, errors: result.errors },
    };
  } finally {
    stop();
    process.off('exit', stop);
    await new Promise((r) => setTimeout(r, 1000));
    rmSync(tmp, { recursive: true, force: true });
  }
}

function formatServe(r: { env: RunEnv; index: string } & Awaited<ReturnType<typeof measureServe>>): string {
  const mb = (n: number) => (n / 2 ** 20).toFixed(0);
  const row = (name: string, s: TreeSample) => `| ${name} | ${s.processes} | **${mb(s.rss)}** | ${mb(s.pss)} |`;
  const lat = r.load.latency_ms as { p50?: number; p99?: number } | undefined;
  return [
    ...formatEnvLines(r.env),
    '',
    `index     ${r.index}; npm run serve -- --workers ${r.workers}: ready in ${r.readySeconds.toFixed(1)} s; index files ${process.env.RAG_MMAP === '0' ? 'read into each process (RAG_MMAP=0)' : mmapAvailable() ? 'memory-mapped (shared/index/mmap.ts)' : 'read into each process (mmap addon missing)'}`,
    '',
    '| service (npm, tsx, server, workers) | processes | RSS MB | PSS MB |',
    '| --- | ---: | ---: | ---: |',
    row('after loading', r.loaded),
    row(`peak under load (uniform, ${r.load.connections} connections, ${r.load.duration} s)`, r.peak),
    row('after the load', r.after),
    '',
    ...r.peak.each.map((p) => `  pid ${p.pid}  RSS ${mb(p.rss)} MB  PSS ${mb(p.pss)} MB  ${p.command}`),
    '',
    `load      ${r.load.qps.toFixed(0)} queries/s, p50 ${lat?.p50?.toFixed(2) ?? '–'} ms, p99 ${lat?.p99?.toFixed(2) ?? '–'} ms, non-2xx ${r.load.non2xx}, errors ${r.load.errors}`,
    '',
  ].join('\n');
}
