/**
 * The capstone's release report in the lab report: `npm run t4:soak` (shared/deploy/soak.ts) writes release.json
 * beside the run's results.json; when it is there, `npm run report` adds a "Release (capstone soak)" section
 * (markdown.ts, html.ts, a chart from charts.ts). The rows and sentences come from shared/deploy/release-report.ts, so
 * the section reads as RELEASE.md does.
 */
import fs from 'node:fs';
import path from 'node:path';
import { validateRelease, type ReleaseReport } from '../../deploy/release-report.ts';

export const RELEASE_FILE = 'release.json';
export const RELEASE_TITLE = 'Release (capstone soak)';

/**
 * The run folder's release.json: `{}` when there is none (the report is unchanged), `{ release }` when it reads,
 * `{ warning }` naming the file and the first bad field when it does not (the rest of the report is still built).
 */
export function readRelease(runDir: string): { release?: ReleaseReport; warning?: string } {
  const file = path.join(runDir, RELEASE_FILE);
  if (!fs.existsSync(file)) return {};
  const skip = 'the report is built without its release section (run `npm run t4:soak` again to rewrite it)';
  let data: unknown;
  try {
    data = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    return { warning: `${file} is not valid JSON (${(err as Error).message.split('\n')[0]}): ${skip}` };
  }
  try {
    return { release: validateRelease(data) };
  } catch (err) {
    return { warning: `${file} is not a release report: ${(err as Error).message}; ${skip}` };
  }
}
