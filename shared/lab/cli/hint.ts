/**
 * `npm run hint -- <lesson> [1|2|3]`: one stage of a lesson's hints at a time, from a nudge to the mechanism.
 */
import path from 'node:path';
import { parseCli, runMain, UsageError } from '../../util/cli.ts';
import { HINT_STAGES, HintsError, readHints } from '../hints.ts';
import { discoverLessons, findLesson, LessonLookupError, REPO_ROOT } from '../lessons.ts';

const HELP = `
Usage: npm run hint -- <lesson> [1|2|3]

Prints one hint for a lesson's exercise (e.g. 09-vector-math, vector-math, t1/09-vector-math). Hint 1 is a nudge,
hint 2 narrows it down, hint 3 names the mechanism (never the code). Without a number: hint 1.

Take them one at a time: try the exercise, run its checkpoint (\`npm run checkpoint -- <lesson>\`), measure it
(\`npm run t1 -- --only <lesson> --impl exercise\`), and ask for the next hint only when stuck.

Options:
  -h, --help   show this help

Exit codes: 0 printed, 2 unknown lesson or stage.`;

async function main(): Promise<number> {
  const { positionals } = parseCli(HELP, {}, process.argv.slice(2), true);
  if (positionals.length < 1 || positionals.length > 2) {
    throw new UsageError('name a lesson and optionally a stage, e.g. `npm run hint -- 09-vector-math 2`');
  }
  const lesson = findLesson(positionals[0], discoverLessons(REPO_ROOT));
  const stage = positionals[1] === undefined ? 1 : Number(positionals[1]);
  if (!Number.isInteger(stage) || stage < 1 || stage > HINT_STAGES) {
    throw new UsageError(`stage "${positionals[1]}": expected 1, 2 or 3`);
  }
  const hints = readHints(lesson.path);
  process.stdout.write(`${lesson.id} · hint ${stage} of ${HINT_STAGES}\n\n${hints[stage - 1]}\n\n`);
  process.stdout.write(
    stage < HINT_STAGES
      ? `Still stuck? npm run hint -- ${lesson.dir} ${stage + 1}\n`
      : `That is the last hint. The solution is ${path.relative(REPO_ROOT, path.join(lesson.path, 'after.ts'))}; read it after you have tried.\n`,
  );
  return 0;
}

runMain(main, [LessonLookupError, HintsError]);
