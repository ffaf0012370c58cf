/**
 * The results file: `reports/<run-id>/results.json`. One file per run; every chapter of the run merges its lessons into
 * it. The report reads only this file, so its shape is validated on the way in.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { HeadlineResult } from './headline.ts';
import type { Curve, Metric } from './lesson.ts';
import type { RunCommand, RunEnv } from './env.ts';
import { REPO_ROOT } from '../util/paths.ts';
import type { Ratio, Summary } from '../util/stats.ts';

export const RESULTS_SCHEMA = 'rag-perf-lab/results@2';
/** Results of the previous shape (no headline, no command list) are read and upgraded on the way in. */
const OLD_SCHEMAS = ['rag-perf-lab/results@1'];

export interface MemoryResult {
  /** Mean growth of V8 heapUsed across one round of the variant, in bytes (can be negative after a GC). */
  heapDelta: number;
  /** Mean growth of the process RSS across one round, in bytes. */
  rssDelta: number;
  /** Garbage collections observed while the variant ran (all rounds). */
  gcCount: number;
  /** Total GC pause time while the variant ran (all rounds), in ms. */
  gcPauseMs: number;
}

export interface VariantResult {
  name: string;
  status: 'ok' | 'failed';
  /** The error message when the variant threw. */
  error?: string;
  /** Latency summary in ms over the samples pooled from every round. */
  stats?: Summary;
  /** Mean latency of each interleaved round, in ms: a quick look at drift between rounds. */
  roundMeans?: number[];
  /** Speed-up over the baseline measured in the same run: baseline mean / this mean, ± one standard error. */
  ratio?: Ratio;
  memory?: MemoryResult;
}

export interface LessonResult {
  id: string;
  chapter: string;
  title: string;
  workload?: string;
  status: 'ok' | 'failed' | 'skipped';
  /** Why the lesson was skipped, or what failed (setup, extras, a variant). */
  reason?: string;
  mode: 'quick' | 'full';
  /** The size the lesson ran with (its `sizes[mode]`). */
  size: unknown;
  baseline: string;
  /** Where variants pair up: each variant's own baseline (see LessonDefinition.pairs). */
  pairs?: Record<string, string>;
  /** Resolved runner options: rounds, time and warm-up per round (ms), minimum iterations, memory. */
  options: { rounds: number; time: number; warmupTime: number; iterations: number; memory: boolean };
  variants: VariantResult[];
  curves: Curve[];
  metrics: Metric[];
  /** The figure the lesson is about, per variant, with each variant's change against its own baseline. */
  headline?: HeadlineResult;
  startedAt: string;
  durationMs: number;
  /** The command and code that measured this lesson (a run gathers lessons from several commands). */
  command?: string;
  commit?: string | null;
  dirty?: boolean;
}

export interface RunResults {
  schema: typeof RESULTS_SCHEMA;
  runId: string;
  env: RunEnv;
  /** Lessons in the order they ran; a lesson that runs again in the same run replaces its earlier entry. */
  lessons: LessonResult[];
}

/** Thrown for a results file that cannot be used; the message names the file and the offending field. */
export class ResultsError extends Error {
  constructor(
    message: string,
    readonly file?: string,
  ) {
    super(message);
    this.name = 'ResultsError';
  }
}

// ---------------------------------------------------------------------------------------------------------------------
// Validation (hand-written: the shape is small and the messages matter more than a schema library).

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

function need(cond: boolean, where: string, what: string): asserts cond {
  if (!cond) throw new ResultsError(`${where}: ${what}`);
}

function num(o: Obj, key: string, where: string, allowNull = false): void {
  const v = o[key];
  if (allowNull && v === null) return;
  // JSON turns Infinity/NaN into null; accept null for numbers that may legitimately be non-finite.
  need(typeof v === 'number' || v === null, `${where}.${key}`, `expected a number, got ${JSON.stringify(v)}`);
}

function str(o: Obj, key: string, where: string, optional = false): void {
  const v = o[key];
  if (optional && v === undefined) return;
  need(typeof v === 'string', `${where}.${key}`, `expected a string, got ${JSON.stringify(v)}`);
}

function validateSummary(s: unknown, where: string): void {
  need(isObj(s), where, 'expected an object');
  for (const k of ['samples', 'mean', 'sd', 'sem', 'rme', 'min', 'p50', 'p99', 'max', 'opsPerSec']) num(s, k, where);
}

function validateVariant(v: unknown, where: string): void {
  need(isObj(v), where, 'expected an object');
  str(v, 'name', where);
  need(v.status === 'ok' || v.status === 'failed', `${where}.status`, `expected "ok" or "failed", got ${JSON.stringify(v.status)}`);
  if (v.status === 'ok') validateSummary(v.stats, `${where}.stats`);
  if (v.status === 'failed') str(v, 'error', where);
  if (v.ratio !== undefined) {
    need(isObj(v.ratio), `${where}.ratio`, 'expected an object');
    num(v.ratio, 'value', `${where}.ratio`);
    num(v.ratio, 'error', `${where}.ratio`);
  }
  if (v.roundMeans !== undefined) need(Array.isArray(v.roundMeans), `${where}.roundMeans`, 'expected an array');
  if (v.memory !== undefined) {
    need(isObj(v.memory), `${where}.memory`, 'expected an object');
    for (const k of ['heapDelta', 'rssDelta', 'gcCount', 'gcPauseMs']) num(v.memory, k, `${where}.memory`);
  }
}

function validateCurve(c: unknown, where: string): void {
  need(isObj(c), where, 'expected an object');
  for (const k of ['id', 'title', 'xLabel', 'yLabel']) str(c, k, where);
  need(Array.isArray(c.points), `${where}.points`, 'expected an array');
  c.points.forEach((p, i) => {
    const w = `${where}.points[${i}]`;
    need(isObj(p), w, 'expected an object');
    num(p, 'x', w);
    num(p, 'y', w);
    str(p, 'series', w);
  });
}

function validateLesson(l: unknown, where: string): void {
  need(isObj(l), where, 'expected an object');
  for (const k of ['id', 'chapter', 'title', 'baseline', 'startedAt']) str(l, k, where);
  need(
    l.status === 'ok' || l.status === 'failed' || l.status === 'skipped',
    `${where}.status`,
    `expected "ok", "failed" or "skipped", got ${JSON.stringify(l.status)}`,
  );
  need(l.mode === 'quick' || l.mode === 'full', `${where}.mode`, `expected "quick" or "full", got ${JSON.stringify(l.mode)}`);
  need(Array.isArray(l.variants), `${where}.variants`, 'expected an array');
  l.variants.forEach((v, i) => validateVariant(v, `${where}.variants[${i}]`));
  need(Array.isArray(l.curves), `${where}.curves`, 'expected an array');
  l.curves.forEach((c, i) => validateCurve(c, `${where}.curves[${i}]`));
  need(Array.isArray(l.metrics), `${where}.metrics`, 'expected an array');
  l.metrics.forEach((m, i) => {
    const w = `${where}.metrics[${i}]`;
    need(isObj(m), w, 'expected an object');
    str(m, 'name', w);
    num(m, 'value', w);
    str(m, 'unit', w);
    if (m.samples !== undefined) need(Array.isArray(m.samples), `${w}.samples`, 'expected an array');
    if (m.error !== undefined) num(m, 'error', w);
  });
  if (l.headline !== undefined) {
    const w = `${where}.headline`;
    need(isObj(l.headline), w, 'expected an object');
    const h = l.headline;
    str(h, 'name', w);
    str(h, 'unit', w);
    need(h.better === 'lower' || h.better === 'higher', `${w}.better`, `expected "lower" or "higher", got ${JSON.stringify(h.better)}`);
    need(Array.isArray(h.rows), `${w}.rows`, 'expected an array');
    need(Array.isArray(h.featured), `${w}.featured`, 'expected an array');
    h.rows.forEach((r, i) => {
      need(isObj(r), `${w}.rows[${i}]`, 'expected an object');
      str(r, 'variant', `${w}.rows[${i}]`);
      num(r, 'value', `${w}.rows[${i}]`);
    });
  }
}

/** Check that `data` has the shape of a results file; throws a ResultsError naming the first bad field. */
export function validateResults(data: unknown): RunResults {
  need(isObj(data), 'results', 'expected a JSON object');
  need(
    data.schema === RESULTS_SCHEMA || OLD_SCHEMAS.includes(data.schema as string),
    'results.schema',
    `expected "${RESULTS_SCHEMA}", got ${JSON.stringify(data.schema)}`,
  );
  str(data, 'runId', 'results');
  need(isObj(data.env), 'results.env', 'expected an object');
  const env = data.env;
  for (const k of ['cpu', 'node', 'v8', 'os', 'date', 'command', 'mode']) str(env, k, 'results.env');
  num(env, 'cores', 'results.env');
  num(env, 'memory', 'results.env');
  if (env.commands !== undefined) need(Array.isArray(env.commands), 'results.env.commands', 'expected an array');
  need(Array.isArray(data.lessons), 'results.lessons', 'expected an array');
  data.lessons.forEach((l, i) => validateLesson(l, `results.lessons[${i}]`));
  const results = data as unknown as RunResults;
  return { ...results, schema: RESULTS_SCHEMA, env: { ...results.env, commands: commandsOf(results.env) } };
}

/** The commands that made a run: the list, or (older files) the one command of the header. */
export function commandsOf(env: RunEnv): RunCommand[] {
  if (env.commands && env.commands.length > 0) return env.commands;
  return [{ command: env.command, date: env.date, commit: env.commit, dirty: env.dirty, mode: env.mode === 'mixed' ? 'full' : env.mode, lessons: [] }];
}

// ---------------------------------------------------------------------------------------------------------------------
// Files.

/** Where runs are written: `reports/` at the repo root, or `LAB_REPORTS_DIR`. */
export function reportsDir(): string {
  return process.env.LAB_REPORTS_DIR ? path.resolve(process.env.LAB_REPORTS_DIR) : path.join(REPO_ROOT, 'reports');
}

export function runDir(reportsDir: string, runId: string): string {
  return path.join(reportsDir, runId);
}

export function resultsFile(reportsDir: string, runId: string): string {
  return path.join(reportsDir, runId, 'results.json');
}

/** Read and validate a results file. Errors name the file. */
export function readResults(file: string): RunResults {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new ResultsError(`cannot read ${file}: ${(err as Error).message}`, file);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new ResultsError(`${file} is not valid JSON (${(err as Error).message.split('\n')[0]})`, file);
  }
  try {
    return validateResults(data);
  } catch (err) {
    throw new ResultsError(`${file} is not a lab results file: ${(err as Error).message}`, file);
  }
}

/**
 * Merge lessons into a run: same id replaces, new ids append, and the incoming command joins the run's list of
 * commands. The header mode becomes 'mixed' if modes differ. The header's machine stays the first command's.
 */
export function mergeResults(existing: RunResults | undefined, incoming: RunResults): RunResults {
  const stamp = (r: RunResults): RunResults => ({
    ...r,
    lessons: r.lessons.map((l) => ({ command: r.env.command, commit: r.env.commit, dirty: r.env.dirty, ...l })),
  });
  const inc = stamp(incoming);
  const incCommands = commandsOf(inc.env).map((c) => ({ ...c, lessons: c.lessons.length ? c.lessons : inc.lessons.map((l) => l.id) }));
  if (!existing) return { ...inc, env: { ...inc.env, commands: incCommands } };
  const lessons = [...existing.lessons];
  for (const l of inc.lessons) {
    const i = lessons.findIndex((x) => x.id === l.id);
    if (i >= 0) lessons[i] = l;
    else lessons.push(l);
  }
  const mode = existing.env.mode === inc.env.mode ? existing.env.mode : 'mixed';
  return { ...existing, env: { ...existing.env, mode, commands: [...commandsOf(existing.env), ...incCommands] }, lessons };
}

// ---------------------------------------------------------------------------------------------------------------------
// The current run: lesson runs add to it by default, so a week of work is one run and one report.

const CURRENT_FILE = 'CURRENT';

/** The run lesson commands add to, if it still exists. */
export function currentRun(reportsDir: string): string | undefined {
  const file = path.join(reportsDir, CURRENT_FILE);
  if (!fs.existsSync(file)) return undefined;
  const id = fs.readFileSync(file, 'utf8').trim();
  return id && fs.existsSync(resultsFile(reportsDir, id)) ? id : undefined;
}

export function setCurrentRun(reportsDir: string, runId: string): void {
  fs.mkdirSync(reportsDir, { recursive: true });
  const file = path.join(reportsDir, CURRENT_FILE);
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, `${runId}\n`);
  fs.renameSync(tmp, file);
}

/** Write atomically (temp file + rename) so a crash never leaves half a results file. */
export function writeResults(reportsDir: string, results: RunResults): string {
  const file = resultsFile(reportsDir, results.runId);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, `${JSON.stringify(results, null, 2)}\n`);
  fs.renameSync(tmp, file);
  return file;
}

/** Merge `incoming` into the run's results.json (creating it) and return the merged results. */
export function saveResults(reportsDir: string, incoming: RunResults): { file: string; merged: RunResults } {
  const file = resultsFile(reportsDir, incoming.runId);
  const existing = fs.existsSync(file) ? readResults(file) : undefined;
  const merged = mergeResults(existing, incoming);
  writeResults(reportsDir, merged);
  return { file, merged };
}

/** Run ids in `reportsDir` that hold a results.json, oldest first (run ids sort by time). */
export function listRuns(reportsDir: string): string[] {
  if (!fs.existsSync(reportsDir)) return [];
  return fs
    .readdirSync(reportsDir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && fs.existsSync(path.join(reportsDir, d.name, 'results.json')))
    .map((d) => d.name)
    .sort();
}
