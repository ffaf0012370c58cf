/**
 * Prints the vitest totals of the last `npm run test:unit` as one closing line, "N passed, N failed, N skipped",
 * so a CI log ends with the count of tests that ran. Reads reports/vitest.json (vitest's JSON reporter).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../../util/paths.ts';

const file = join(REPO_ROOT, 'reports', 'vitest.json');
let data: { numPassedTests: number; numFailedTests: number; numPendingTests: number; numTodoTests: number };
try {
  data = JSON.parse(readFileSync(file, 'utf8'));
} catch {
  process.stderr.write(`error: no vitest results at ${file}; run npm run test:unit first\n`);
  process.exit(2);
}
process.stdout.write(`${data.numPassedTests} passed, ${data.numFailedTests} failed, ${data.numPendingTests + data.numTodoTests} skipped\n`);
process.exit(data.numFailedTests > 0 ? 1 : 0);
