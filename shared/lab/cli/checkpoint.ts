/**
 * `npm run checkpoint -- <lesson|chapter>`: run a lesson's checkpoint against your exercise.ts and say what is left.
 */
import path from 'node:path';
import { parseCli, runMain, UsageError } from '../../util/cli.ts';
import { implMode, IMPL_MODES, type ImplMode } from '../checkpoint.ts';
import { recordCheckpoints, type CheckpointRecord } from '../checkpoint-log.ts';
import { reportsDir } from '../results.ts';
import { discoverLessons, LessonLookupError, REPO_ROOT, resolveTarget } from '../lessons.ts';
import { runVitest } from '../vitest-run.ts';

const HELP = `
Usage: npm run checkpoint -- <lesson|chapter> [--impl exercise|after|before|default|wrong|wrong/<name>]

Runs the checkpoint tests of a lesson (e.g. 09-vector-math, vector-math, t1/09-vector-math) or of every lesson of a
chapter (t1..t4) against your exercise.ts, and prints what passes and what is left to do.

Options:
  --impl <which>   which implementation the tests import (default: exercise)
                     exercise  your exercise.ts
                     after     the reference solution
                     before    the naive version
                     default   before.ts and after.ts together (what plain \`npx vitest\` runs)
                     wrong     the lesson's wrong solutions (wrong/*.ts): each should fail

Your exercise's result is remembered (reports/checkpoints.json) and shown in the lab report.
  -h, --help       show this help

Exit codes: 0 all checkpoints pass, 1 some fail, 2 bad usage.`;

async function main(): Promise<number> {
  const { values, positionals } = parseCli(HELP, { impl: { type: 'string' } }, process.argv.slice(2), true);
  if (positionals.length !== 1) {
    throw new UsageError(`name one lesson or chapter, e.g. \`npm run checkpoint -- 09-vector-math\` (got ${positionals.length})`);
  }
  let impl: ImplMode;
  try {
    impl = implMode({ LAB_IMPL: values.impl ?? 'exercise' });
  } catch {
    throw new UsageError(`--impl ${values.impl}: expected one of ${IMPL_MODES.join(', ')}`);
  }

  const target = resolveTarget(positionals[0], discoverLessons(REPO_ROOT));
  const skipped: string[] = [];
  const lessons = target.lessons.filter((l) => {
    const why = l.tests.length === 0 ? 'no checkpoint' : impl === 'exercise' && !l.hasExercise ? 'no exercise' : undefined;
    if (why) skipped.push(`${l.id} (${why})`);
    return !why;
  });
  if (lessons.length === 0) {
    process.stdout.write(`Nothing to check in ${positionals[0]}${skipped.length ? `: ${skipped.join(', ')}` : ' (no lessons yet)'}.\n`);
    return 0;
  }

  process.stdout.write(`Checking ${lessons.map((l) => l.id).join(', ')} against ${impl === 'default' ? 'before.ts + after.ts' : `${impl}.ts`}…\n\n`);
  const run = await runVitest(lessons.flatMap((l) => l.tests), impl);
  let passedLessons = 0;
  const records: Record<string, CheckpointRecord> = {};
  for (const l of lessons) {
    const files = run.files.filter((f) => l.tests.includes(f.file));
    const ok = files.every((f) => f.status === 'passed');
    if (ok) passedLessons++;
    const tests = files.flatMap((f) => f.tests);
    const firstFailure = tests.find((t) => t.status === 'failed')?.message?.split('\n')[0] ?? files.find((f) => f.message)?.message?.split('\n')[0];
    records[l.id] = {
      impl,
      status: ok ? 'pass' : 'fail',
      passed: tests.filter((t) => t.status === 'passed').length,
      failed: tests.filter((t) => t.status === 'failed').length,
      date: new Date().toISOString(),
      ...(!ok && firstFailure ? { firstFailure } : {}),
    };
    process.stdout.write(`${ok ? '✓' : '✗'} ${l.id}\n`);
    for (const f of files) {
      if (f.message && f.tests.length === 0) process.stdout.write(`    could not load ${path.basename(f.file)}: ${f.message.replace(/\n/g, '\n      ')}\n`);
      const pass = f.tests.filter((t) => t.status === 'passed').length;
      const fail = f.tests.filter((t) => t.status === 'failed');
      if (f.tests.length) process.stdout.write(`    ${pass}/${f.tests.length} checks pass\n`);
      let last: string | undefined;
      for (const t of fail.slice(0, 8)) {
        // The same message for many tests (a TODO that throws) is printed once.
        const msg = t.message && t.message !== last ? `        ${t.message.replace(/\n/g, '\n        ')}\n` : '';
        last = t.message;
        process.stdout.write(`    ✗ ${t.name}\n${msg}`);
      }
      if (fail.length > 8) process.stdout.write(`    … and ${fail.length - 8} more\n`);
    }
    if (!ok && impl === 'exercise') {
      process.stdout.write(
        `    → edit ${path.relative(REPO_ROOT, path.join(l.path, 'exercise.ts'))}, then run \`npm run checkpoint -- ${l.dir}\` again.\n` +
          `      measure it: npm run ${l.chapter} -- --only ${l.dir} --impl exercise · stuck? npm run hint -- ${l.dir}\n`,
      );
    }
    if (ok && impl === 'exercise') {
      process.stdout.write(`    → done. Compare with the solution in ${path.relative(REPO_ROOT, path.join(l.path, 'after.ts'))}.\n`);
    }
  }
  if (run.files.length === 0 || (run.exitCode !== 0 && run.files.every((f) => f.tests.length === 0))) {
    process.stdout.write(`\nvitest output:\n${run.output}\n`);
  }
  if (impl === 'exercise') recordCheckpoints(reportsDir(), records);
  if (skipped.length) process.stdout.write(`\nnot checked: ${skipped.join(', ')}\n`);
  process.stdout.write(`\n${passedLessons}/${lessons.length} lesson checkpoint(s) pass.\n`);
  return passedLessons === lessons.length ? 0 : 1;
}

runMain(main, [LessonLookupError]);
