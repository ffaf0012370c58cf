/**
 * The one switch through which a lesson's checkpoint (`*.test.ts`) imports the code under test.
 *
 * `LAB_IMPL` picks the implementation(s):
 *
 *   default   (unset) before.ts and after.ts: the two must agree, and both must hold the lesson's properties
 *   exercise  exercise.ts only: what `npm run checkpoint` runs for a learner
 *   after     after.ts only: what `npm run check:exercises` proves passes
 *   before    before.ts only
 *
 * In a checkpoint:
 *
 *     import { implementations } from '../../shared/lab/checkpoint.ts';
 *     type Mod = typeof import('./after.ts');
 *     describe.each(await implementations<Mod>(import.meta.url))('%s', (name, impl) => {
 *       it('finds the nearest vector', () => { ... impl.search(...) ... });
 *     });
 */
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';

export type Impl = 'before' | 'after' | 'exercise';
export type ImplMode = 'default' | Impl;

export const IMPL_MODES: readonly ImplMode[] = ['default', 'exercise', 'after', 'before'];

/** The files a mode loads, in order. */
export function implFiles(mode: ImplMode): Impl[] {
  return mode === 'default' ? ['before', 'after'] : [mode];
}

/** Read `LAB_IMPL` (unset or empty → 'default'); an unknown value is an error, not a silent default. */
export function implMode(env: NodeJS.ProcessEnv = process.env): ImplMode {
  const raw = (env.LAB_IMPL ?? '').trim();
  if (raw === '') return 'default';
  if ((IMPL_MODES as readonly string[]).includes(raw)) return raw as ImplMode;
  throw new Error(`LAB_IMPL="${raw}" is not one of: ${IMPL_MODES.join(', ')}`);
}

/**
 * The implementations to test, as `[name, module]` pairs for `describe.each`.
 *
 * @param lessonUrl `import.meta.url` of the checkpoint (or any URL inside the lesson folder, or the folder's URL).
 * @param env       defaults to `process.env` (reads `LAB_IMPL`).
 */
export async function implementations<T>(
  lessonUrl: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<Array<[name: Impl, mod: T]>> {
  const dir = new URL('.', lessonUrl);
  const mode = implMode(env);
  const out: Array<[Impl, T]> = [];
  for (const name of implFiles(mode)) {
    const url = new URL(`${name}.ts`, dir);
    if (!fs.existsSync(fileURLToPath(url))) {
      throw new Error(`LAB_IMPL=${mode}: ${fileURLToPath(url)} does not exist`);
    }
    out.push([name, (await import(url.href)) as T]);
  }
  return out;
}
