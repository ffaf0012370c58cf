/**
 * Where lessons live and how a learner names them. A lesson is a folder `tN_<chapter>/NN-<name>/`; its benchmark is
 * the default export of `*.bench.ts` there, its checkpoint the `*.test.ts` files, its exercise `exercise.ts`.
 *
 * A lesson can be named `09-vector-math`, `vector-math`, `t1/09-vector-math` or `t1_performance_optimization/09-vector-math`.
 */
import fs from 'node:fs';
import path from 'node:path';

export interface ChapterInfo {
  key: string;
  dir: string;
  title: string;
}

export const CHAPTERS: ChapterInfo[] = [
  { key: 't1', dir: 't1_performance_optimization', title: 'Performance optimization' },
  { key: 't2', dir: 't2_memory_storage_optimization', title: 'Memory and storage optimization' },
  { key: 't3', dir: 't3_model_inference_optimization', title: 'Model inference optimization' },
  { key: 't4', dir: 't4_scalable_architecture', title: 'Scalable architecture' },
];

/** The repository root (two levels above this file). */
export { REPO_ROOT } from '../util/paths.ts';
import { REPO_ROOT } from '../util/paths.ts';

export interface LessonRef {
  /** 't1/09-vector-math' */
  id: string;
  chapter: string;
  /** '09-vector-math' */
  dir: string;
  /** 'vector-math' */
  name: string;
  /** Absolute path of the lesson folder. */
  path: string;
  /** Absolute path of the `*.bench.ts`, if the lesson has one. */
  bench?: string;
  /** Absolute paths of the `*.test.ts` checkpoints. */
  tests: string[];
  hasExercise: boolean;
}

const LESSON_DIR = /^\d{2}-[a-z0-9][a-z0-9-]*$/;

export function chapterByKeyOrDir(s: string): ChapterInfo | undefined {
  const k = s.replace(/\/+$/, '');
  return CHAPTERS.find((c) => c.key === k || c.dir === k);
}

/** Lessons of one chapter (or all chapters), sorted by chapter then number. */
export function discoverLessons(root: string = REPO_ROOT, chapterKey?: string): LessonRef[] {
  const chapters = chapterKey ? CHAPTERS.filter((c) => c.key === chapterKey) : CHAPTERS;
  const out: LessonRef[] = [];
  for (const ch of chapters) {
    const chDir = path.join(root, ch.dir);
    if (!fs.existsSync(chDir)) continue;
    for (const ent of fs.readdirSync(chDir, { withFileTypes: true })) {
      if (!ent.isDirectory() || !LESSON_DIR.test(ent.name)) continue;
      const dir = path.join(chDir, ent.name);
      const files = fs.readdirSync(dir);
      const bench = files.find((f) => f.endsWith('.bench.ts'));
      out.push({
        id: `${ch.key}/${ent.name}`,
        chapter: ch.key,
        dir: ent.name,
        name: ent.name.replace(/^\d{2}-/, ''),
        path: dir,
        ...(bench ? { bench: path.join(dir, bench) } : {}),
        tests: files.filter((f) => f.endsWith('.test.ts')).sort().map((f) => path.join(dir, f)),
        hasExercise: files.includes('exercise.ts'),
      });
    }
  }
  return out.sort((a, b) => a.id.localeCompare(b.id));
}

/** Thrown when a name matches no lesson (or several); the message lists the known ones. */
export class LessonLookupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LessonLookupError';
  }
}

function knownList(refs: LessonRef[]): string {
  return refs.length === 0 ? '(none yet)' : refs.map((r) => r.id).join(', ');
}

/** Lessons matching one name. Empty when nothing matches. */
export function matchLessons(query: string, refs: LessonRef[]): LessonRef[] {
  const q = query.trim().replace(/\/+$/, '');
  const slash = q.indexOf('/');
  if (slash >= 0) {
    const ch = chapterByKeyOrDir(q.slice(0, slash));
    const rest = q.slice(slash + 1);
    if (!ch) return [];
    return refs.filter((r) => r.chapter === ch.key && (r.dir === rest || r.name === rest));
  }
  return refs.filter((r) => r.dir === q || r.name === q);
}

/** Exactly one lesson for a name, or a LessonLookupError listing the known lessons. */
export function findLesson(query: string, refs: LessonRef[]): LessonRef {
  const found = matchLessons(query, refs);
  if (found.length === 1) return found[0];
  if (found.length === 0) throw new LessonLookupError(`unknown lesson "${query}". Known lessons: ${knownList(refs)}`);
  throw new LessonLookupError(`"${query}" is ambiguous: ${found.map((r) => r.id).join(', ')}; use the full id`);
}

/** A checkpoint target: a chapter ('t1') gives all its lessons, otherwise one lesson. */
export function resolveTarget(query: string, refs: LessonRef[]): { kind: 'chapter' | 'lesson'; lessons: LessonRef[] } {
  const ch = chapterByKeyOrDir(query.trim());
  if (ch) return { kind: 'chapter', lessons: refs.filter((r) => r.chapter === ch.key) };
  try {
    return { kind: 'lesson', lessons: [findLesson(query, refs)] };
  } catch (err) {
    const chapters = CHAPTERS.map((c) => c.key).join(', ');
    throw new LessonLookupError(`${(err as Error).message}. Chapters: ${chapters}`);
  }
}
