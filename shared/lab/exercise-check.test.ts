import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { judgeWrong } from './exercise-check.ts';
import type { LessonRef } from './lessons.ts';
import type { FileOutcome } from './vitest-run.ts';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lab-wrong-'));
fs.mkdirSync(path.join(dir, 'wrong'));
fs.writeFileSync(path.join(dir, 'wrong', 'full-sort.ts'), '/**\n * Wrong: sorts everything.\n * @rejected-with sorted all 2000 scores\n */\nexport {};\n');
fs.writeFileSync(path.join(dir, 'wrong', 'no-tag.ts'), '/** Wrong, but says nothing about how. */\nexport {};\n');
const test = path.join(dir, 'demo.test.ts');
const lesson: LessonRef = { id: 't9/01-demo', chapter: 't9', dir: '01-demo', name: 'demo', path: dir, tests: [test], hasExercise: true };

const outcome = (tests: FileOutcome['tests']): FileOutcome[] => [{ file: test, status: 'failed', tests }];

describe('judgeWrong', () => {
  it('accepts a wrong solution rejected with its message and refuses one without a @rejected-with line', () => {
    const v = judgeWrong(
      lesson,
      outcome([
        { name: 'wrong/full-sort › finds hits', status: 'passed' },
        { name: 'wrong/full-sort › cost › keeps k', status: 'failed', message: 'AssertionError: search sorted all 2000 scores to keep 10' },
        { name: 'wrong/no-tag › finds hits', status: 'failed', message: 'x' },
      ]),
    );
    expect(v.map((x) => [x.name, x.ok])).toEqual([
      ['wrong/full-sort', true],
      ['wrong/no-tag', false],
    ]);
    expect(v[1].why).toMatch(/no "@rejected-with/);
  });

  it('calls out a wrong solution that passes, or fails for another reason', () => {
    const passes = judgeWrong(lesson, outcome([{ name: 'wrong/full-sort › keeps k', status: 'passed' }]))[0];
    expect(passes).toMatchObject({ ok: false });
    expect(passes.why).toMatch(/PASSES all 1 tests: the checkpoint lets this wrong idea through/);
    const other = judgeWrong(lesson, outcome([{ name: 'wrong/full-sort › keeps k', status: 'failed', message: 'TypeError: boom' }]))[0];
    expect(other.why).toMatch(/fails, but not with "sorted all 2000 scores": .*TypeError: boom/);
    const none = judgeWrong(lesson, [{ file: test, status: 'passed', tests: [{ name: 'after › x', status: 'passed' }] }])[0];
    expect(none.why).toMatch(/no test ran for it/);
    const broken = judgeWrong(lesson, [{ file: test, status: 'failed', message: 'SyntaxError: Unexpected token', tests: [] }])[0];
    expect(broken.why).toMatch(/the checkpoint did not run: SyntaxError/);
  });
});
