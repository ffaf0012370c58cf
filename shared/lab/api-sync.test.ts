import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkExerciseApis } from './api-sync.ts';
import type { LessonRef } from './lessons.ts';

function lesson(files: Record<string, string>): LessonRef {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lab-api-'));
  for (const [name, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    fs.writeFileSync(path.join(dir, name), text);
  }
  return { id: 't9/01-demo', chapter: 't9', dir: '01-demo', name: 'demo', path: dir, tests: [], hasExercise: 'exercise.ts' in files };
}

const AFTER = `import { helper } from './helper.ts';
export interface Hit { index: number; score: number }
export interface Box<T> { value: T }
export function search(rows: number[], k: number): Hit[] { return helper(rows, k); }
export const LIMIT = 5;
`;
const HELPER = `export function helper(_r: number[], _k: number) { return []; }\n`;

describe('checkExerciseApis', () => {
  it('accepts copies with the same exports, whatever their bodies and comments', () => {
    const l = lesson({
      'after.ts': AFTER,
      'helper.ts': HELPER,
      'other.ts': 'export const x = 1;\n',
      'exercise.ts': `import { readFileSync } from 'node:fs';\n/** doc */ export interface Hit { index: number; /** s */ score: number }\nexport interface Box<T> { value: T }\nexport function search(rows: number[], k: number): Hit[] { void readFileSync; return []; }\nexport const LIMIT = 5;\n`,
      'wrong/slow.ts': `import { x } from '../other.ts';\nexport interface Hit { index: number; score: number }\nexport interface Box<T> { value: T }\nexport function search(rows: number[], k: number): Hit[] { void x; return []; }\nexport const LIMIT = 5;\n`,
    });
    expect(checkExerciseApis([l])).toEqual([]);
  });

  it('names every difference: a missing export, a changed signature, a changed type, a project import after.ts lacks', () => {
    const l = lesson({
      'after.ts': AFTER,
      'helper.ts': HELPER,
      'other.ts': 'export const x = 1;\n',
      'exercise.ts': `import { x } from './other.ts';\nexport interface Hit { index: number; score: string }\nexport interface Box<T> { value: T }\nexport function search(rows: number[]): Hit[] { void x; return []; }\n`,
    });
    const messages = checkExerciseApis([l]).map((p) => `${p.file}: ${p.message}`);
    expect(messages.sort()).toEqual([
      'exercise.ts: Hit differs from after.ts\'s: score: string, after.ts has number',
      'exercise.ts: does not export LIMIT, which after.ts exports',
      'exercise.ts: imports other.ts, which after.ts does not import',
      'exercise.ts: search has type (rows: number[]) => Hit[]; after.ts has (rows: number[], k: number) => Hit[]',
    ]);
  });
});
