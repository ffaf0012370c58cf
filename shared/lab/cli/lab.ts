/**
 * `npm run lab`: every chapter, one after another, into one run; then the report.
 * Each chapter runs in its own Node process so one chapter's JIT and heap state cannot colour the next one's numbers.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parseCli, runMain, UsageError } from '../../util/cli.ts';
import { gitState, makeRunId } from '../env.ts';
import { estimateLesson, formatDuration, pastDurations } from '../eta.ts';
import { CHAPTERS, discoverLessons, findLesson, LessonLookupError, REPO_ROOT } from '../lessons.ts';
import { currentRun, reportsDir, resultsFile, setCurrentRun } from '../results.ts';

const HELP = `
Usage: npm run lab -- [options]

Runs t1, t2, t3 and t4 (each chapter in its own process) into one run, reports/<run-id>/, then builds the report.
Prints the expected duration first and, before each lesson, about how long is left.

Options:
  --quick            small sizes and short rounds: a first look at every lesson in a few minutes (what CI runs)
  --only <lesson>    run one lesson and add it to the current run (like npm run t1 -- --only …)
  --impl exercise    with --only: measure your exercise.ts beside before and after
  --new-run          with --only: start a new run instead of adding to the current one
  --keep-current     a whole-lab run that does not become the current run (npm test uses this)
  --compare <id>     pass to the report: compare with an earlier run
  -h, --help         show this help

A whole-lab run starts a new run and makes it the current one; lesson runs (npm run t1 -- --only …) add to it.

Exit codes: 0 all lessons ran or were skipped, 1 something failed, 2 bad usage.`;

function run(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', ...args], { cwd: REPO_ROOT, env, stdio: 'inherit' });
    child.on('error', reject);
    child.on('close', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}

async function main(): Promise<number> {
  const { values } = parseCli(HELP, {
    quick: { type: 'boolean' },
    only: { type: 'string' },
    impl: { type: 'string' },
    'new-run': { type: 'boolean' },
    'keep-current': { type: 'boolean' },
    compare: { type: 'string' },
  });
  if (values.impl !== undefined && values.only === undefined) throw new UsageError('--impl goes with --only <lesson>');
  if (values['new-run'] && values.only === undefined) throw new UsageError('--new-run goes with --only (a whole-lab run is always new)');
  if (values['keep-current'] && values.only !== undefined) throw new UsageError('--keep-current is for whole-lab runs, not --only');
  const mode = values.quick ? 'quick' : 'full';
  const dir = reportsDir();
  const lessons = discoverLessons(REPO_ROOT).filter((l) => l.bench);
  const only = values.only !== undefined ? findLesson(values.only, lessons) : undefined;
  const runId = only && !values['new-run'] ? (currentRun(dir) ?? makeRunId(new Date(), gitState(REPO_ROOT).commit)) : makeRunId(new Date(), gitState(REPO_ROOT).commit);
  const passThrough = process.argv.slice(2).filter((a) => a !== '--keep-current');
  const command = `npm run lab${passThrough.length ? ` -- ${passThrough.join(' ')}` : ''}`;

  const chapters = CHAPTERS.filter((c) => !only || c.key === only.chapter);
  const past = pastDurations(dir);
  const perChapter = chapters.map((c) =>
    (only ? [only] : lessons.filter((l) => l.chapter === c.key)).reduce((s, l) => s + estimateLesson(past, l.id, l.path, mode).seconds, 0),
  );
  const total = perChapter.reduce((a, b) => a + b, 0);
  const count = only ? 1 : lessons.length;
  process.stderr.write(`lab run ${runId}: ${count} lesson(s), ${mode} mode, expected about ${formatDuration(total)} on a machine like the last one\n`);

  const failed: string[] = [];
  for (const [i, ch] of chapters.entries()) {
    process.stderr.write(`\n== ${ch.key}: ${ch.title} ==\n`);
    const args = [path.join(ch.dir, 'index.ts'), '--run-id', runId, ...(values.quick ? ['--quick'] : [])];
    if (only) args.push('--only', only.dir, ...(values.impl ? ['--impl', values.impl] : []));
    const after = perChapter.slice(i + 1).reduce((a, b) => a + b, 0);
    const code = await run(args, { ...process.env, LAB_COMMAND: command, LAB_ETA_AFTER_S: String(after) });
    if (code !== 0) failed.push(`${ch.key} (exit ${code})`);
  }
  if (!fs.existsSync(resultsFile(dir, runId))) {
    process.stderr.write('\nno lesson produced results: nothing to report.\n');
    return failed.length ? 1 : 0;
  }
  if (!values['keep-current']) setCurrentRun(dir, runId);
  process.stderr.write('\n== report ==\n');
  const rc = await run(
    [path.join('shared', 'lab', 'cli', 'report.ts'), '--run', runId, ...(values.compare ? ['--compare', values.compare] : [])],
    { ...process.env, LAB_COMMAND: command },
  );
  if (rc !== 0) failed.push(`report (exit ${rc})`);
  process.stderr.write(failed.length ? `\nlab run ${runId}: failed: ${failed.join(', ')}\n` : `\nlab run ${runId}: done\n`);
  if (!only && !values['keep-current']) {
    process.stdout.write(
      `\nNext: open the report above, then day 1 of docs/learning-path.md:\n` +
        `  npm run t1 -- --only 00-profiling          # measure the lesson (adds to this run)\n` +
        `  npm run checkpoint -- 00-profiling         # check your exercise.ts\n`,
    );
  }
  return failed.length ? 1 : 0;
}

runMain(main, [LessonLookupError]);
