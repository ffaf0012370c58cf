/**
 * The chapter runner behind `npm run tN`: finds the chapter's lessons (`tN_<chapter>/NN-<lesson>/<lesson>.bench.ts`, default export made
 * with `defineLesson`), runs them one after another, prints a table per lesson and merges the results into
 * `reports/<run-id>/results.json`.
 *
 * Usage from `tN_<chapter>/index.ts`:
 *
 *     import { runChapter } from '../shared/lab/chapter.ts';
 *     await runChapter(import.meta.url);
 *
 * A chapter may name an `--only` target that is not a lesson but another command (HANDOVERS): T4's `--only capstone`
 * runs the capstone soak (shared/deploy/soak.ts) with the other arguments, and exits with its code.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { fail, parseCli, UsageError } from '../util/cli.ts';
import { collectEnv, formatEnvLines, gitState, isValidRunId, makeRunId } from './env.ts';
import type { LessonDefinition } from './lesson.ts';
import { CHAPTERS, discoverLessons, findLesson, LessonLookupError, REPO_ROOT, type LessonRef } from './lessons.ts';
import { estimateLesson, formatDuration, pastDurations } from './eta.ts';
import {
  currentRun,
  readResults,
  reportsDir,
  RESULTS_SCHEMA,
  ResultsError,
  resultsFile,
  saveResults,
  setCurrentRun,
  type LessonResult,
  type RunResults,
} from './results.ts';
import { runLesson, type Mode } from './runner.ts';
import { renderLessonText } from './lesson-table.ts';

/** Per chapter, `--only` targets that hand over to another command (run from the repo root with the other arguments). */
export const HANDOVERS: Record<string, { only: string; script: string; help: string }> = {
  t4: {
    only: 'capstone',
    script: 'shared/deploy/soak.ts',
    help:
      '  --only capstone   the capstone soak instead of the lessons (as npm run t4:soak; needs Docker): the other options\n' +
      "                    go to it, e.g. '--only capstone --quick' (~60 s of load) or '--only capstone --minutes 5';\n" +
      "                    '--only capstone --help' lists them. It writes release.json and RELEASE.md into the current\n" +
      '                    run, where npm run report shows them\n',
  },
};

/**
 * The command `npm run <chapter> -- <argv>` hands over to, when argv asks for the chapter's handover target
 * (`--only capstone`, `--only=capstone` or `--only t4/capstone`): node with tsx running its script, with every other
 * argument passed through in order. Undefined otherwise (the chapter runs its lessons).
 */
export function handoverCommand(chapterKey: string, argv: readonly string[], node: string = process.execPath): { command: string; args: string[] } | undefined {
  const h = HANDOVERS[chapterKey];
  if (!h) return undefined;
  const names = new Set([h.only, `${chapterKey}/${h.only}`]);
  const rest: string[] = [];
  let found = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') {
      rest.push(...argv.slice(i));
      break;
    }
    if (!found && a === '--only' && i + 1 < argv.length && names.has(argv[i + 1])) {
      found = true;
      i++;
    } else if (!found && a.startsWith('--only=') && names.has(a.slice('--only='.length))) found = true;
    else rest.push(a);
  }
  return found ? { command: node, args: ['--import', 'tsx', h.script, ...rest] } : undefined;
}

/** Run the handed-over command from the repo root with the terminal's stdio; resolves to its exit code. */
function runHandover(cmd: { command: string; args: string[] }): Promise<number> {
  process.stderr.write(`  · handing over to: node ${cmd.args.join(' ')}\n`);
  // the child runs from the repo root (so `--import tsx` resolves): a relative LAB_REPORTS_DIR must not move
  const env = process.env.LAB_REPORTS_DIR ? { ...process.env, LAB_REPORTS_DIR: path.resolve(process.env.LAB_REPORTS_DIR) } : process.env;
  return new Promise((resolve, reject) => {
    const child = spawn(cmd.command, cmd.args, { cwd: REPO_ROOT, env, stdio: 'inherit' });
    // Ctrl-C reaches both processes: this one waits while the child tears its stack down; a signal sent to this
    // process alone is passed on
    const forward = (sig: NodeJS.Signals) => child.kill(sig);
    process.on('SIGINT', forward);
    process.on('SIGTERM', forward);
    const done = () => {
      process.off('SIGINT', forward);
      process.off('SIGTERM', forward);
    };
    child.on('error', (err) => {
      done();
      reject(new Error(`could not start ${cmd.command} ${cmd.args.join(' ')}: ${err.message}`));
    });
    child.on('exit', (code, signal) => {
      done();
      resolve(code ?? 128 + (signal ? (os.constants.signals[signal] ?? 0) : 1));
    });
  });
}

function help(key: string, dir: string): string {
  return `
Usage: npm run ${key} -- [options]

Runs the benchmarks of ${dir}: every lesson's variants, interleaved, with ratios to the baseline measured in the
same run. Tables go to stdout (stderr with --json); progress to stderr.

Options:
  --only <lesson>   run one lesson: '09-vector-math', 'vector-math' or '${key}/09-vector-math'
${HANDOVERS[key]?.help ?? ''}  --quick           small sizes and short rounds (a few seconds per lesson)
  --impl exercise   also measure your exercise.ts: an "exercise" row beside before and after
  --json            print the results JSON on stdout
  --new-run         start a new run (it becomes the current run)
  --run-id <id>     add to this run
  --model <dir>     lessons that run an encoder (T3) run yours instead of the seeded one: a folder with
                    model.onnx and tokenizer.json, e.g. a sentence-transformers export of all-MiniLM-L6-v2
  -h, --help        show this help

Runs accumulate: every lesson you run is added to the current run (reports/CURRENT), replacing that lesson's
earlier result, so a week of work is one run and one report. The first run, or --new-run, starts a new one.

Results: reports/<run-id>/results.json (then \`npm run report\`).
Exit codes: 0 ok or skipped, 1 a lesson or variant failed, 2 bad usage.`;
}

function isLessonDefinition(x: unknown): x is LessonDefinition {
  if (typeof x !== 'object' || x === null) return false;
  const d = x as Record<string, unknown>;
  return (
    typeof d.id === 'string' &&
    typeof d.title === 'string' &&
    typeof d.setup === 'function' &&
    typeof d.variants === 'object' &&
    d.variants !== null &&
    typeof d.sizes === 'object' &&
    d.sizes !== null &&
    typeof d.headline === 'object' &&
    d.headline !== null
  );
}

/** Import a lesson's bench file and check its default export. */
export async function loadLesson(ref: LessonRef): Promise<LessonDefinition> {
  if (!ref.bench) throw new Error(`${ref.id} has no *.bench.ts`);
  const mod = (await import(pathToFileURL(ref.bench).href)) as { default?: unknown };
  if (!isLessonDefinition(mod.default)) {
    throw new Error(`${path.basename(ref.bench)} must \`export default defineLesson({ id, title, sizes, setup, variants, headline })\``);
  }
  return mod.default;
}

/** The learner's exercise.ts, or why it cannot be loaded (a syntax error is the learner's to see, not a crash). */
async function loadExercise(ref: LessonRef): Promise<{ module: unknown } | { error: string }> {
  const file = path.join(ref.path, 'exercise.ts');
  if (!fs.existsSync(file)) return { error: `${ref.id} has no exercise.ts` };
  try {
    return { module: await import(pathToFileURL(file).href) };
  } catch (err) {
    return { error: `could not load exercise.ts: ${(err as Error).message.split('\n')[0]}` };
  }
}

function failedStub(ref: LessonRef, mode: Mode, reason: string): LessonResult {
  return {
    id: ref.id,
    chapter: ref.chapter,
    title: ref.dir,
    status: 'failed',
    reason,
    mode,
    size: null,
    baseline: 'before',
    options: { rounds: 0, time: 0, warmupTime: 0, iterations: 0, memory: false },
    variants: [],
    curves: [],
    metrics: [],
    startedAt: new Date().toISOString(),
    durationMs: 0,
  };
}

export async function runChapter(indexUrl: string, argv: string[] = process.argv.slice(2)): Promise<void> {
  const chapterDir = path.basename(path.dirname(fileURLToPath(indexUrl)));
  const chapter = CHAPTERS.find((c) => c.dir === chapterDir);
  if (!chapter) fail(`${chapterDir} is not a known chapter folder`);
  const handover = handoverCommand(chapter.key, argv);
  if (handover) {
    process.exitCode = await runHandover(handover);
    return;
  }
  const { values } = parseCli(
    help(chapter.key, chapter.dir),
    {
      only: { type: 'string' },
      quick: { type: 'boolean' },
      json: { type: 'boolean' },
      impl: { type: 'string' },
      'new-run': { type: 'boolean' },
      'run-id': { type: 'string' },
      model: { type: 'string' },
    },
    argv,
  );
  const mode: Mode = values.quick ? 'quick' : 'full';
  const json = values.json ?? false;
  const out = (s: string) => (json ? process.stderr : process.stdout).write(`${s}\n`);
  const log = (s: string) => process.stderr.write(`  · ${s}\n`);

  try {
    const all = discoverLessons(REPO_ROOT, chapter.key).filter((r) => r.bench);
    let selected = all;
    if (values.only !== undefined) {
      const q = values.only;
      // A full id of another chapter is a mistake worth naming.
      const other = q.includes('/') ? q.split('/')[0] : undefined;
      if (other && other !== chapter.key && other !== chapter.dir) {
        throw new UsageError(`--only ${q} names another chapter; this is ${chapter.key}. Known lessons: ${all.map((r) => r.id).join(', ') || '(none yet)'}`);
      }
      selected = [findLesson(q, all)];
    }
    if (values.impl !== undefined && values.impl !== 'exercise') {
      throw new UsageError(`--impl ${values.impl}: only --impl exercise is measured (before and after always run)`);
    }
    const model = values.model === undefined ? undefined : path.resolve(values.model);
    if (model !== undefined && !fs.existsSync(path.join(model, 'model.onnx'))) {
      throw new UsageError(`--model ${values.model}: no model.onnx there (a model folder holds model.onnx and tokenizer.json)`);
    }
    if (values['run-id'] !== undefined && !isValidRunId(values['run-id'])) {
      throw new UsageError(`--run-id "${values['run-id']}" may only contain letters, digits, '.', '_' and '-'`);
    }
    if (selected.length === 0) {
      out(`${chapter.key} (${chapter.title}): no lessons yet — nothing to run.`);
      return;
    }

    const now = new Date();
    const env = collectEnv(REPO_ROOT, mode, now);
    const dir = reportsDir();
    const current = values['run-id'] === undefined && !values['new-run'] ? currentRun(dir) : undefined;
    const runId = values['run-id'] ?? current ?? makeRunId(now, gitState(REPO_ROOT).commit);
    // Adding to an existing run: make sure its results file is usable before spending minutes measuring.
    const existing = resultsFile(dir, runId);
    if (fs.existsSync(existing)) readResults(existing);
    if (values['run-id'] === undefined) setCurrentRun(dir, runId);
    out(`# ${chapter.key} — ${chapter.title}`);
    for (const l of formatEnvLines(env)) out(l);
    if (values['run-id'] === undefined) {
      out(current ? `Run      adding to ${runId} (the current run; --new-run starts a fresh one)` : `Run      ${runId} (new; now the current run)`);
    }

    const past = pastDurations(dir);
    const estimates = selected.map((r) => estimateLesson(past, r.id, r.path, mode).seconds);
    const later = Number(process.env.LAB_ETA_AFTER_S ?? 0) || 0;
    const total = estimates.reduce((a, b) => a + b, 0);
    if (selected.length > 1) out(`Expected about ${formatDuration(total)} for ${selected.length} lessons (${mode} mode).`);
    out('');

    const lessons: LessonResult[] = [];
    for (const [i, ref] of selected.entries()) {
      if (selected.length > 1 || later > 0) {
        const left = estimates.slice(i).reduce((a, b) => a + b, 0) + later;
        log(`[${i + 1}/${selected.length}] ${ref.id} · about ${formatDuration(estimates[i])} · about ${formatDuration(left)} left`);
      }
      let result: LessonResult;
      try {
        const def = await loadLesson(ref);
        if (def.id !== ref.id) log(`warning: ${ref.bench} declares id "${def.id}", using its folder id "${ref.id}"`);
        const exercise = values.impl === 'exercise' ? await loadExercise(ref) : undefined;
        result = await runLesson({ ...def, id: ref.id }, { mode, log, ...(exercise ? { exercise } : {}), ...(model ? { model } : {}) });
      } catch (err) {
        result = failedStub(ref, mode, `could not run: ${(err as Error).message}`);
      }
      lessons.push(result);
      out(renderLessonText(result));
      out('');
    }

    const incoming: RunResults = { schema: RESULTS_SCHEMA, runId, env, lessons };
    const { file } = saveResults(dir, incoming);
    process.stderr.write(`results: ${path.relative(process.cwd(), file)}  (report: npm run report -- --run ${runId})\n`);
    if (json) process.stdout.write(`${JSON.stringify(incoming, null, 2)}\n`);

    const failed = lessons.filter((l) => l.status === 'failed');
    if (failed.length > 0) {
      process.stderr.write(`${failed.length} lesson(s) failed: ${failed.map((l) => l.id).join(', ')}\n`);
      process.exitCode = 1;
    }
  } catch (err) {
    if (err instanceof UsageError || err instanceof LessonLookupError || err instanceof ResultsError) fail(err.message);
    throw err;
  }
}
