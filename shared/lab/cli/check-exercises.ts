/**
 * `npm run check:exercises` (rustlings' dev check): every exercise must FAIL its checkpoint as shipped, and every
 * solution (after.ts) must PASS it. Catches an exercise that gives the answer away and a solution that broke.
 */
import path from 'node:path';
import { parseCli, runMain } from '../../util/cli.ts';
import { discoverLessons, REPO_ROOT } from '../lessons.ts';
import { renderTextTable } from '../../util/table.ts';
import { runVitest, type FileOutcome } from '../vitest-run.ts';

const HELP = `
Usage: npm run check:exercises

For every lesson with an exercise.ts, runs its checkpoint twice: with LAB_IMPL=exercise (must fail) and with
LAB_IMPL=after (must pass). Prints a table; exits 1 if an exercise passes as shipped or a solution fails.

Options:
  -h, --help   show this help`;

function lessonStatus(files: FileOutcome[], tests: string[]): 'pass' | 'fail' {
  return files.filter((f) => tests.includes(f.file)).every((f) => f.status === 'passed') ? 'pass' : 'fail';
}

async function main(): Promise<number> {
  parseCli(HELP, {});
  const all = discoverLessons(REPO_ROOT).filter((l) => l.hasExercise);
  if (all.length === 0) {
    process.stdout.write('No lesson has an exercise.ts yet: nothing to check.\n');
    return 0;
  }
  const noTests = all.filter((l) => l.tests.length === 0);
  const lessons = all.filter((l) => l.tests.length > 0);
  const files = lessons.flatMap((l) => l.tests);
  process.stderr.write(`checking ${lessons.length} exercise(s): LAB_IMPL=exercise and LAB_IMPL=after…\n`);
  const [ex, after] = await Promise.all([runVitest(files, 'exercise'), runVitest(files, 'after')]);

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
  // A solution that fails: show why, so the fix is one look away.
  for (const l of lessons) {
    for (const f of after.files.filter((x) => l.tests.includes(x.file) && x.status === 'failed')) {
      const first = f.tests.find((t) => t.status === 'failed');
      process.stdout.write(`\n${l.id} after.ts: ${first ? `${first.name}: ${first.message ?? ''}` : (f.message ?? 'failed')}\n`);
    }
  }
  process.stdout.write(problems ? `\n${problems} problem(s).\n` : `\nall ${lessons.length} exercise(s) ok.\n`);
  return problems ? 1 : 0;
}

runMain(main);
