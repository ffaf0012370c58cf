/**
 * `npm run check:exercises` (rustlings' dev check): every exercise must FAIL its checkpoint as shipped, every
 * solution (after.ts) must PASS it, and every wrong solution (wrong/*.ts) must fail it with the message its header
 * names. Also checks that exercise.ts and wrong/*.ts keep after.ts's interface. Catches an exercise that gives the
 * answer away, a solution that broke, and a checkpoint that lets the wrong idea pass.
 */
import path from 'node:path';
import { parseCli, runMain } from '../../util/cli.ts';
import { checkExerciseApis } from '../api-sync.ts';
import { wrongSolutions } from '../checkpoint.ts';
import { judgeWrong } from '../exercise-check.ts';
import { readHints } from '../hints.ts';
import { discoverLessons, findLesson, LessonLookupError, REPO_ROOT } from '../lessons.ts';
import { renderTextTable } from '../../util/table.ts';
import { runVitest, type FileOutcome } from '../vitest-run.ts';

const HELP = `
Usage: npm run check:exercises [-- --only <lesson>]

For every lesson with an exercise.ts, runs its checkpoint with LAB_IMPL=exercise (must fail), LAB_IMPL=after (must
pass) and LAB_IMPL=wrong (each wrong/<name>.ts must fail, with a message containing its "@rejected-with" text), and
checks that exercise.ts and wrong/*.ts export after.ts's interface. Prints a table; exits 1 on any problem.

Options:
  --only <lesson>   check one lesson (e.g. 09-vector-math)
  -h, --help        show this help`;

function lessonStatus(files: FileOutcome[], tests: string[]): 'pass' | 'fail' {
  return files.filter((f) => tests.includes(f.file)).every((f) => f.status === 'passed') ? 'pass' : 'fail';
}

async function main(): Promise<number> {
  const { values } = parseCli(HELP, { only: { type: 'string' } });
  const found = discoverLessons(REPO_ROOT);
  const all = (values.only !== undefined ? [findLesson(values.only, found)] : found).filter((l) => l.hasExercise);
  if (all.length === 0) {
    process.stdout.write('No lesson has an exercise.ts yet: nothing to check.\n');
    return 0;
  }
  const noTests = all.filter((l) => l.tests.length === 0);
  const lessons = all.filter((l) => l.tests.length > 0);
  const files = lessons.flatMap((l) => l.tests);
  const withWrong = lessons.filter((l) => wrongSolutions(l.path).length > 0);
  const wrongFiles = withWrong.flatMap((l) => l.tests);
  process.stderr.write(`checking ${lessons.length} exercise(s): LAB_IMPL=exercise, after and wrong, and their interfaces…\n`);
  const ex = await runVitest(files, 'exercise');
  const after = await runVitest(files, 'after');
  const wrong = wrongFiles.length ? await runVitest(wrongFiles, 'wrong') : { files: [], exitCode: 0, output: '' };
  const apiProblems = checkExerciseApis(all);

  const rows: string[][] = [];
  let problems = 0;
  for (const l of lessons) {
    const e = lessonStatus(ex.files, l.tests);
    const a = lessonStatus(after.files, l.tests);
    const ok = e === 'fail' && a === 'pass';
    if (!ok) problems++;
    const why = e === 'pass' ? 'exercise passes as shipped' : a === 'fail' ? 'solution (after.ts) fails' : '';
    rows.push([l.id, e === 'fail' ? 'fails ✓' : 'PASSES ✗', a === 'pass' ? 'passes ✓' : 'FAILS ✗', ok ? 'ok' : `PROBLEM: ${why}`]);
  }
  for (const l of noTests) {
    problems++;
    rows.push([l.id, '–', '–', `PROBLEM: exercise.ts but no *.test.ts in ${path.relative(REPO_ROOT, l.path)}`]);
  }
  process.stdout.write(`${renderTextTable(['Lesson', 'exercise (must fail)', 'after (must pass)', 'Result'], rows)}\n`);

  const verdicts = withWrong.flatMap((l) => judgeWrong(l, wrong.files));
  if (verdicts.length) {
    process.stdout.write(`\nWrong solutions (each must fail with its message):\n`);
    process.stdout.write(
      `${renderTextTable(
        ['Lesson', 'Wrong solution', 'Result'],
        verdicts.map((v) => [v.lesson, v.name, v.ok ? `ok, ${v.why}` : `PROBLEM: ${v.why}`]),
      )}\n`,
    );
  }
  problems += verdicts.filter((v) => !v.ok).length;
  const noWrong = lessons.filter((l) => wrongSolutions(l.path).length === 0);
  for (const l of noWrong) {
    problems++;
    process.stdout.write(`PROBLEM: ${l.id} keeps no wrong solution (wrong/<name>.ts) for its checkpoint to reject\n`);
  }
  for (const l of lessons) {
    try {
      readHints(l.path);
    } catch (err) {
      problems++;
      process.stdout.write(`PROBLEM: ${l.id}: ${(err as Error).message}\n`);
    }
  }
  for (const p of apiProblems) process.stdout.write(`PROBLEM: ${p.lesson} ${p.file}: ${p.message}\n`);
  problems += apiProblems.length;
  // A solution that fails: show why, so the fix is one look away.
  for (const l of lessons) {
    for (const f of after.files.filter((x) => l.tests.includes(x.file) && x.status === 'failed')) {
      const first = f.tests.find((t) => t.status === 'failed');
      process.stdout.write(`\n${l.id} after.ts: ${first ? `${first.name}: ${first.message ?? ''}` : (f.message ?? 'failed')}\n`);
    }
  }
  process.stdout.write(
    problems
      ? `\n${problems} problem(s).\n`
      : `\nall ${lessons.length} exercise(s) ok: each fails as shipped, its solution passes, ${verdicts.length} wrong solution(s) rejected with their messages, interfaces in step.\n`,
  );
  return problems ? 1 : 0;
}

runMain(main, [LessonLookupError]);
