/**
 * The one switch through which a lesson's checkpoint (`*.test.ts`) imports the code under test.
 *
 * `LAB_IMPL` picks the implementation(s):
 *
 *   default        (unset) before.ts and after.ts: the two must agree, and both must hold the lesson's properties
 *   exercise       exercise.ts only: what `npm run checkpoint` runs for a learner
 *   after          after.ts only: what `npm run check:exercises` proves passes
 *   before         before.ts only
 *   wrong          every wrong/*.ts of the lesson: the plausible wrong solutions the checkpoint must reject
 *   wrong/<name>   one of them
 *
 * In a checkpoint:
 *
 *     import { implementations } from '../../shared/lab/checkpoint.ts';
 *     type Mod = typeof import('./after.ts');
 *     describe.each(await implementations<Mod>(import.meta.url))('%s', (name, impl) => {
 *       it('finds the nearest vector', () => { ... impl.search(...) ... });
 *     });
 *
 * The describe block is named after the implementation ('after', 'exercise', 'wrong/full-sort'), which is how
 * `check:exercises` tells whose tests failed.
 *
 * ## Wrong solutions
 *
 * `wrong/<name>.ts` beside the checkpoint is a solution a learner is likely to write that misses the lesson's point
 * (async reads without time slicing, fixed batches instead of a sliding window). It has after.ts's interface and a
 * header that names the failure the checkpoint must report, in the lesson's words:
 *
 *     /**
 *      * Wrong: sorts all n scores to keep k.
 *      * @rejected-with sorted all 2000 scores to keep 10
 *      *\/
 *
 * `npm run check:exercises` runs the checkpoint once with LAB_IMPL=wrong and requires, for each such file, a failed
 * test under its describe block whose message contains that text.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export type ImplMode = 'default' | 'exercise' | 'after' | 'before' | 'wrong' | `wrong/${string}`;

export const IMPL_MODES: readonly string[] = ['default', 'exercise', 'after', 'before', 'wrong', 'wrong/<name>'];

/** The folder of a lesson's wrong solutions. */
export const WRONG_DIR = 'wrong';

const WRONG_NAME = /^[a-z0-9][a-z0-9-]*$/;

/** Read `LAB_IMPL` (unset or empty → 'default'); an unknown value is an error, not a silent default. */
export function implMode(env: NodeJS.ProcessEnv = process.env): ImplMode {
  const raw = (env.LAB_IMPL ?? '').trim();
  if (raw === '') return 'default';
  if (['default', 'exercise', 'after', 'before', 'wrong'].includes(raw)) return raw as ImplMode;
  if (raw.startsWith(`${WRONG_DIR}/`) && WRONG_NAME.test(raw.slice(WRONG_DIR.length + 1))) return raw as ImplMode;
  throw new Error(`LAB_IMPL="${raw}" is not one of: ${IMPL_MODES.join(', ')}`);
}

/** The wrong solutions of a lesson folder, as 'wrong/<name>', sorted. */
export function wrongSolutions(lessonDir: string): string[] {
  const dir = path.join(lessonDir, WRONG_DIR);
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))
    .map((f) => `${WRONG_DIR}/${f.slice(0, -3)}`)
    .sort();
}

/** What a wrong solution's header says the checkpoint must report (`@rejected-with <text>`), or undefined. */
export function rejectedWith(file: string): string | undefined {
  const m = /@rejected-with\s+(.+?)\s*$/m.exec(fs.readFileSync(file, 'utf8'));
  return m?.[1]?.replace(/\s*\*\/\s*$/, '');
}

/** The implementation files a mode loads, in order, relative to the lesson folder and without `.ts`. */
export function implFiles(mode: ImplMode, lessonDir?: string): string[] {
  if (mode === 'default') return ['before', 'after'];
  if (mode === 'wrong') return lessonDir ? wrongSolutions(lessonDir) : [];
  return [mode];
}

/**
 * The implementations to test, as `[name, module]` pairs for `describe.each`. With LAB_IMPL=wrong a lesson without
 * wrong solutions gives an empty list (vitest then has no tests from that file, which is fine: nothing to reject).
 *
 * @param lessonUrl `import.meta.url` of the checkpoint (or any URL inside the lesson folder, or the folder's URL).
 * @param env       defaults to `process.env` (reads `LAB_IMPL`).
 */
export async function implementations<T>(
  lessonUrl: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<Array<[name: string, mod: T]>> {
  const dir = new URL('.', lessonUrl);
  const mode = implMode(env);
  const out: Array<[string, T]> = [];
  for (const name of implFiles(mode, fileURLToPath(dir))) {
    const url = new URL(`${name}.ts`, dir);
    if (!fs.existsSync(fileURLToPath(url))) {
      throw new Error(`LAB_IMPL=${mode}: ${fileURLToPath(url)} does not exist`);
    }
    out.push([name, (await import(url.href)) as T]);
  }
  return out;
}
