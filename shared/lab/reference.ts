/**
 * A lesson's reference figures: what its README reports, from one full run on the project's machine, kept beside the
 * README as `reference.json` so the report can show them next to the learner's own figures and the runner can
 * estimate durations. Written by `npm run lab:publish`; read-only everywhere else.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { HeadlineRow } from './headline.ts';
import type { Headline } from './lesson.ts';
import { CHAPTERS, REPO_ROOT } from './lessons.ts';

export const REFERENCE_FILE = 'reference.json';

export interface LessonReference {
  lesson: string;
  runId: string;
  command: string;
  commit: string | null;
  date: string;
  /** "AMD EPYC × 2 cores, 23.5 GB, Node v20.20.2". */
  machine: string;
  mode: 'quick' | 'full';
  headline?: Headline & { rows: Array<Pick<HeadlineRow, 'variant' | 'value' | 'error' | 'change' | 'verdict' | 'against'>> };
  /** Mean time per call of each variant, ms. */
  timeMs: Record<string, number>;
  /** How long the lesson took, per mode measured, ms. */
  durationMs: Partial<Record<'quick' | 'full', number>>;
}

/** The folder of a lesson id ('t1/09-vector-math' → <root>/t1_performance_optimization/09-vector-math). */
export function lessonDir(id: string, root = REPO_ROOT): string | undefined {
  const [key, dir] = id.split('/');
  const ch = CHAPTERS.find((c) => c.key === key);
  return ch && dir ? path.join(root, ch.dir, dir) : undefined;
}

export function readReference(id: string, root = REPO_ROOT): LessonReference | undefined {
  const dir = lessonDir(id, root);
  const file = dir && path.join(dir, REFERENCE_FILE);
  if (!file || !fs.existsSync(file)) return undefined;
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as LessonReference;
  } catch {
    return undefined;
  }
}

export function writeReference(ref: LessonReference, root = REPO_ROOT): string {
  const dir = lessonDir(ref.lesson, root);
  if (!dir) throw new Error(`no lesson folder for ${ref.lesson}`);
  const file = path.join(dir, REFERENCE_FILE);
  fs.writeFileSync(file, `${JSON.stringify(ref, null, 2)}\n`);
  return file;
}
