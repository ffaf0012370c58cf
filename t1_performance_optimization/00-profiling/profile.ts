/**
 * Runs the lesson's query path under a profiler and prints what it found.
 *
 *     npx tsx t1_performance_optimization/00-profiling/profile.ts                  # node --cpu-prof (default)
 *     npx tsx t1_performance_optimization/00-profiling/profile.ts --impl after     # the fixed version
 *     npx tsx t1_performance_optimization/00-profiling/profile.ts --impl exercise  # yours
 *     npx tsx t1_performance_optimization/00-profiling/profile.ts --clinic doctor  # clinic doctor's diagnosis
 *     npx tsx t1_performance_optimization/00-profiling/profile.ts --clinic flame   # clinic flame's flame graph
 *
 * Every profile goes to reports/profiles/00-profiling/<time>-<tool>-<impl>/ (git-ignored), never into the repository.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { REPO_ROOT } from '../../shared/util/paths.ts';
import { fail, numberFlag, parseCli, runMain } from '../../shared/util/cli.ts';
import { formatSummaryLines, frameLabel, readCpuProfile, summarizeCpuProfile, type CpuProfile } from './cpuprofile.ts';
import { createResolver, type Resolver } from './sourcemaps.ts';
import { IMPLS, isImpl } from './workload.ts';

const USAGE = `
Usage: npx tsx t1_performance_optimization/00-profiling/profile.ts [--cpu-prof | --clinic doctor|flame] [options]

Runs workload.ts (Brown chunks → BM25 queries in a loop) under a profiler.

  --cpu-prof             node --cpu-prof (default): prints the functions with the most self time and the
                         heaviest call path, parsed from the .cpuprofile (open that file in Chrome DevTools ›
                         Performance, or in VS Code, for the flame chart)
  --clinic doctor        clinic doctor: samples CPU, memory, event-loop delay and handles; prints its diagnosis
  --clinic flame         clinic flame (0x): writes an interactive flame graph (HTML); prints the hottest frames

  --read FILE            only summarise an existing .cpuprofile (any program's: node --cpu-prof app.js);
                         a sourcemaps.json beside it (written by workload.ts) names the TypeScript lines

Options:
  --impl NAME            which implementation to profile: before (default), after, or exercise (yours)
  --docs N               Brown documents to chunk, 1-500 (default 100: about 1,300 chunks)
  --seconds S            answer queries for S seconds (default 2), however fast each one is
  --queries N            answer exactly N queries instead
  --top N                rows in the table (default 15)
  --out DIR              where to write (default reports/profiles/00-profiling/<time>-<tool>-<impl>)
  -h, --help             this help
`;

const HERE = fileURLToPath(new URL('.', import.meta.url));
const WORKLOAD = join(HERE, 'workload.ts');

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: REPO_ROOT, env: { ...process.env, ...env }, stdio: 'inherit' });
    child.once('error', reject);
    child.once('exit', (code, signal) =>
      code === 0 ? resolve() : reject(new Error(`${cmd} ${args.join(' ')} exited with ${signal ?? `code ${code}`}`)),
    );
  });
}

const rel = (p: string) => relative(process.cwd(), p) || '.';

/** node --cpu-prof: one .cpuprofile per thread; the main thread is the one that ran the workload. */
async function cpuProf(out: string, workloadArgs: string[], top: number): Promise<void> {
  const maps = join(out, 'sourcemaps.json');
  await run(process.execPath, ['--import', 'tsx', '--cpu-prof', `--cpu-prof-dir=${out}`, WORKLOAD, ...workloadArgs], {
    LAB_PROFILE_SOURCEMAPS: maps,
  });
  const files = readdirSync(out).filter((f) => f.endsWith('.cpuprofile'));
  // tsx runs its module loader in a second thread, which writes its own profile: skip it
  const main = files
    .map((f) => ({ f, p: readCpuProfile(join(out, f)) }))
    .find(({ p }) => p.nodes.some((n) => n.callFrame.functionName === 'runWorkload'));
  if (main === undefined) throw new Error(`no profile in ${out} contains runWorkload (found: ${files.join(', ') || 'none'})`);
  printCpuProfile(join(out, main.f), main.p, top, createResolver(maps));
}

function printCpuProfile(file: string, profile: CpuProfile, top: number, resolve: Resolver): void {
  const s = summarizeCpuProfile(profile, { root: REPO_ROOT, resolve });
  const log = (line = '') => process.stdout.write(`${line}\n`);
  log();
  log(`profile: ${rel(file)}`);
  log(`${s.samples} samples, ${(s.sampledMs / 1000).toFixed(2)} s sampled (the whole process: start-up and loading too)`);
  log();
  for (const line of formatSummaryLines(s, top)) log(line);
}

/** The diagnosis clinic doctor embeds in its HTML: one verdict per resource and a category. */
interface DoctorAnalysis {
  issues: {
    delay: string;
    cpu: string;
    memory: Record<string, string>;
    handles: string;
    loopUtilization: string;
  };
  issueCategory: string;
}

function clinicBin(): string {
  const bin = join(REPO_ROOT, 'node_modules', '.bin', 'clinic');
  if (!existsSync(bin)) fail('clinic is not installed (it is a devDependency: npm ci)');
  return bin;
}

async function clinic(tool: 'doctor' | 'flame', out: string, workloadArgs: string[], top: number): Promise<void> {
  // NO_INSIGHT: no upload prompt; --open=false: no browser. `node --import tsx` runs the TypeScript workload.
  const maps = join(out, 'sourcemaps.json');
  await run(clinicBin(), [tool, '--open=false', '--dest', out, '--', process.execPath, '--import', 'tsx', WORKLOAD, ...workloadArgs], {
    NO_INSIGHT: '1',
    LAB_PROFILE_SOURCEMAPS: maps,
  });
  const html = readdirSync(out).find((f) => f.endsWith(`.clinic-${tool}.html`));
  if (html === undefined) throw new Error(`clinic ${tool} wrote no HTML report into ${out}`);
  const log = (line = '') => process.stdout.write(`${line}\n`);
  log();
  log(`report: ${rel(join(out, html))}  (open it in a browser)`);
  if (tool === 'doctor') printDoctor(readFileSync(join(out, html), 'utf8'), log);
  else printFlame(join(out, html.replace(/\.html$/, '')), top, createResolver(maps), log);
}

function printDoctor(html: string, log: (l?: string) => void): void {
  const m = /"analysis":\s*(\{"interval".*?"issueCategory":"[\w-]+"\})/.exec(html);
  if (m === null) {
    log('(could not find the analysis in the report; open the HTML)');
    return;
  }
  const a = JSON.parse(m[1]) as DoctorAnalysis;
  const mem = Object.entries(a.issues.memory).map(([k, v]) => `${k} ${v}`).join(', ');
  log();
  log("clinic doctor's verdict per resource ('performance' = an issue was detected):");
  log(`  event-loop delay   ${a.issues.delay}`);
  log(`  CPU usage          ${a.issues.cpu}`);
  log(`  memory             ${mem}`);
  log(`  active handles     ${a.issues.handles}`);
  log(`  loop utilization   ${a.issues.loopUtilization}`);
  log(`  → category: ${a.issueCategory}`);
  // the samples behind the verdict: event-loop delay as doctor's sampler (a 10 ms timer) saw it
  const delays = [...html.matchAll(/"delay":([\d.]+),"cpu"/g)].map((d) => Number(d[1])).sort((x, y) => x - y);
  if (delays.length > 0) {
    const long = delays.filter((d) => d > 50).length;
    log(`  event-loop delay: ${long} of ${delays.length} samples over 50 ms, the longest ${delays[delays.length - 1].toFixed(0)} ms`);
  }
  const summary = join(REPO_ROOT, 'node_modules', '@clinic', 'doctor', 'recommendations', `${a.issueCategory}-summary.md`);
  if (existsSync(summary)) {
    log();
    log(`its recommendation (${a.issueCategory}-summary.md):`);
    for (const line of readFileSync(summary, 'utf8').replace(/<\/?code[^>]*>/g, '`').trimEnd().split('\n')) log(`  ${line}`);
  }
}

/**
 * 0x's samples: one stack per sample, root first. The top frame is where the CPU was, but only as the optimising
 * compiler left it: a callee inlined into its caller has no frame of its own, so its time shows under the caller.
 * (The HTML's flame graph un-merges them with the inlining data; `--cpu-prof` attributes them itself.)
 */
function printFlame(dataDir: string, top: number, resolve: Resolver, log: (l?: string) => void): void {
  const file = existsSync(dataDir) ? readdirSync(dataDir).find((f) => f.endsWith('-samples')) : undefined;
  if (file === undefined) return;
  const stacks = JSON.parse(readFileSync(join(dataDir, file), 'utf8')) as Array<Array<{ name: string; type: string }>>;
  const counts = new Map<string, number>();
  let n = 0;
  for (const s of stacks) {
    if (s.length === 0) continue;
    n++;
    const name = flameLabel(s[s.length - 1].name, resolve);
    counts.set(name, (counts.get(name) ?? 0) + 1);
  }
  log();
  log(`Hottest frames: top of stack in ${n} samples (inlined callees count under their caller; see the HTML):`);
  log();
  for (const [name, c] of [...counts].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    log(`${((c / n) * 100).toFixed(1).padStart(5)}%  ${name}`);
  }
}

/** 0x names a JS frame 'name file:///path:line:column' (1-based); map it to the TypeScript line like --cpu-prof. */
function flameLabel(raw: string, resolve: Resolver): string {
  const m = /^(\S*) ?(file:\/\/\S+):(\d+):(\d+)$/.exec(raw.trim());
  if (m === null) return raw.trim() || '(anonymous)';
  const { name, location } = frameLabel(
    { functionName: m[1], url: m[2], lineNumber: Number(m[3]) - 1, columnNumber: Number(m[4]) - 1 },
    { root: REPO_ROOT, resolve },
  );
  return `${name}  ${location}`;
}

async function main(): Promise<void> {
  const { values } = parseCli(USAGE, {
    'cpu-prof': { type: 'boolean' },
    clinic: { type: 'string' },
    impl: { type: 'string', default: 'before' },
    docs: { type: 'string' },
    seconds: { type: 'string' },
    queries: { type: 'string' },
    top: { type: 'string' },
    out: { type: 'string' },
    read: { type: 'string' },
  });
  if (values.read !== undefined) {
    if (!existsSync(values.read)) fail(`--read: ${values.read} does not exist`);
    const top = numberFlag('top', values.top, 15, (n) => Number.isInteger(n) && n >= 1);
    printCpuProfile(values.read, readCpuProfile(values.read), top, createResolver(join(dirname(values.read), 'sourcemaps.json')));
    return;
  }
  const tool = values.clinic;
  if (tool !== undefined && tool !== 'doctor' && tool !== 'flame') {
    fail(`--clinic must be doctor or flame, got "${tool}" (bubbleprof does not run on this setup)`);
  }
  if (tool !== undefined && values['cpu-prof']) fail('choose one: --cpu-prof or --clinic');
  const impl = values.impl;
  if (!isImpl(impl)) fail(`--impl must be one of ${IMPLS.join(', ')}, got "${impl}"`);
  if (values.seconds !== undefined && values.queries !== undefined) fail('choose one: --seconds or --queries');
  const docs = numberFlag('docs', values.docs, 100, (n) => Number.isInteger(n) && n >= 1 && n <= 500);
  const seconds = numberFlag('seconds', values.seconds, 2, (n) => n > 0);
  const queries = values.queries === undefined ? undefined : numberFlag('queries', values.queries, 1, (n) => Number.isInteger(n) && n >= 1);
  const top = numberFlag('top', values.top, 15, (n) => Number.isInteger(n) && n >= 1);
  const stamp = new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19);
  const out = values.out ?? join(REPO_ROOT, 'reports', 'profiles', '00-profiling', `${stamp}-${tool ?? 'cpu-prof'}-${impl}`);
  mkdirSync(out, { recursive: true });
  const run = queries !== undefined ? ['--queries', String(queries)] : ['--seconds', String(seconds)];
  const workloadArgs = ['--impl', impl, '--docs', String(docs), ...run];
  const what = queries !== undefined ? `${queries} queries` : `queries for ${seconds} s`;
  process.stderr.write(`profiling ${impl}.ts: ${docs} Brown docs, ${what} → ${rel(out)}\n`);
  if (tool === undefined) await cpuProf(out, workloadArgs, top);
  else await clinic(tool, out, workloadArgs, top);
}

runMain(main);
