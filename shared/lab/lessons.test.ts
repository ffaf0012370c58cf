import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { discoverLessons, findLesson, LessonLookupError, resolveTarget, type LessonRef } from './lessons.ts';

const ref = (chapter: string, dir: string): LessonRef => ({
  id: `${chapter}/${dir}`,
  chapter,
  dir,
  name: dir.replace(/^\d{2}-/, ''),
  path: `/x/${chapter}/${dir}`,
  tests: [],
  hasExercise: false,
});
const refs = [ref('t1', '09-vector-math'), ref('t1', '10-batching'), ref('t2', '01-quantize'), ref('t2', '02-batching')];

describe('findLesson', () => {
  it.each(['09-vector-math', 'vector-math', 't1/09-vector-math', 't1_performance_optimization/09-vector-math', 't1/vector-math'])(
    'accepts %s',
    (q) => {
      expect(findLesson(q, refs).id).toBe('t1/09-vector-math');
    },
  );

  it('lists the known lessons for an unknown name', () => {
    expect(() => findLesson('nope', refs)).toThrow(LessonLookupError);
    expect(() => findLesson('nope', refs)).toThrow(/unknown lesson "nope"\. Known lessons: t1\/09-vector-math, t1\/10-batching/);
  });

  it('asks for the full id when a short name is ambiguous', () => {
    expect(() => findLesson('batching', refs)).toThrow(/ambiguous: t1\/10-batching, t2\/02-batching/);
    expect(findLesson('t2/batching', refs).id).toBe('t2/02-batching');
  });

  it('does not match a lesson of another chapter by full id', () => {
    expect(() => findLesson('t2/09-vector-math', refs)).toThrow(LessonLookupError);
  });
});

describe('resolveTarget', () => {
  it('expands a chapter to its lessons', () => {
    expect(resolveTarget('t2', refs)).toEqual({ kind: 'chapter', lessons: [refs[2], refs[3]] });
  });

  it('names the chapters too when nothing matches', () => {
    expect(() => resolveTarget('t9', refs)).toThrow(/Chapters: t1, t2, t3, t4/);
  });
});

describe('discoverLessons', () => {
  it('finds NN-name folders with their bench, tests and exercise', () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'lab-lessons-'));
    const l = path.join(root, 't1_performance_optimization', '03-demo');
    fs.mkdirSync(l, { recursive: true });
    fs.mkdirSync(path.join(root, 't1_performance_optimization', 'not-a-lesson'));
    for (const f of ['demo.bench.ts', 'demo.test.ts', 'exercise.ts']) fs.writeFileSync(path.join(l, f), '');
    const found = discoverLessons(root);
    expect(found).toHaveLength(1);
    expect(found[0]).toMatchObject({ id: 't1/03-demo', name: 'demo', hasExercise: true, bench: path.join(l, 'demo.bench.ts') });
    expect(found[0].tests).toEqual([path.join(l, 'demo.test.ts')]);
    expect(discoverLessons(root, 't2')).toEqual([]);
  });
});
