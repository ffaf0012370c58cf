/**
 * Staged hints, outside the exercise (rustlings' `hint`, Exercism's progressive hints). A lesson's `hints.md` has
 * three sections, from a nudge to the mechanism, never the code:
 *
 *     # Hints: 09-vector-math
 *
 *     ## 1
 *     Where does the time go? Run the benchmark with --impl exercise and compare ...
 *
 *     ## 2
 *     ...
 *
 *     ## 3
 *     The mechanism: ... (names the idea, not the lines)
 */
import fs from 'node:fs';
import path from 'node:path';

export const HINTS_FILE = 'hints.md';
export const HINT_STAGES = 3;

export class HintsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HintsError';
  }
}

/** The hint stages of a lesson folder, in order; throws a HintsError naming what is wrong with the file. */
export function readHints(lessonDir: string): string[] {
  const file = path.join(lessonDir, HINTS_FILE);
  if (!fs.existsSync(file)) throw new HintsError(`${path.basename(lessonDir)} has no ${HINTS_FILE}`);
  return parseHints(fs.readFileSync(file, 'utf8'), file);
}

export function parseHints(text: string, where = HINTS_FILE): string[] {
  const stages: string[] = [];
  const parts = text.split(/^## +/m).slice(1);
  for (const part of parts) {
    const nl = part.indexOf('\n');
    const head = (nl < 0 ? part : part.slice(0, nl)).trim();
    const body = nl < 0 ? '' : part.slice(nl + 1).trim();
    const n = Number(head);
    if (!Number.isInteger(n) || n !== stages.length + 1) {
      throw new HintsError(`${where}: expected "## ${stages.length + 1}", found "## ${head}"`);
    }
    if (body === '') throw new HintsError(`${where}: hint ${n} is empty`);
    stages.push(body);
  }
  if (stages.length !== HINT_STAGES) throw new HintsError(`${where}: expected ${HINT_STAGES} hints (## 1 … ## ${HINT_STAGES}), found ${stages.length}`);
  return stages;
}
