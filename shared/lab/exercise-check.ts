/** How `check:exercises` judges a wrong solution's checkpoint run. */
import path from 'node:path';
import { rejectedWith, wrongSolutions } from './checkpoint.ts';
import type { LessonRef } from './lessons.ts';
import type { FileOutcome } from './vitest-run.ts';

export interface WrongVerdict {
  lesson: string;
  name: string;
  ok: boolean;
  why: string;
}

/** Did each wrong solution of the lesson fail, with its expected message? Its tests are the describe block named after it. */
export function judgeWrong(l: LessonRef, files: FileOutcome[]): WrongVerdict[] {
  const tests = files.filter((f) => l.tests.includes(f.file)).flatMap((f) => f.tests);
  const broken = files.find((f) => l.tests.includes(f.file) && f.tests.length === 0 && f.status === 'failed');
  return wrongSolutions(l.path).map((name) => {
    const expected = rejectedWith(path.join(l.path, `${name}.ts`));
    const own = tests.filter((t) => t.name === name || t.name.startsWith(`${name} › `));
    const failed = own.filter((t) => t.status === 'failed');
    if (!expected) return { lesson: l.id, name, ok: false, why: 'its header has no "@rejected-with <message>" line' };
    if (broken && own.length === 0) return { lesson: l.id, name, ok: false, why: `the checkpoint did not run: ${broken.message ?? 'failed to load'}` };
    if (own.length === 0) return { lesson: l.id, name, ok: false, why: `no test ran for it (describe.each over implementations()?)` };
    if (failed.length === 0) return { lesson: l.id, name, ok: false, why: `PASSES all ${own.length} tests: the checkpoint lets this wrong idea through` };
    const hit = failed.find((t) => (t.message ?? '').includes(expected));
    if (!hit) {
      const first = failed[0];
      return { lesson: l.id, name, ok: false, why: `fails, but not with "${expected}": ${first.name}: ${(first.message ?? '').split('\n')[0]}` };
    }
    return { lesson: l.id, name, ok: true, why: `rejected: ${(hit.message ?? '').split('\n')[0].slice(0, 110)}` };
  });
}
