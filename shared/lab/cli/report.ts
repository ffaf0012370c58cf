/**
 * `npm run report`: turn a run's results.json into reports/<run-id>/index.html and REPORT.md (with a "Release
 * (capstone soak)" section when the run folder also holds the soak's release.json).
 */
import path from 'node:path';
import { parseCli, runMain, UsageError } from '../../util/cli.ts';
import { buildReport, writeReport } from '../report/build.ts';
import { regressions } from '../report/compare.ts';
import { readCheckpointLog } from '../checkpoint-log.ts';
import { lessonDir, readReference } from '../reference.ts';
import { readmeLinks, type ReportContext } from '../report/model.ts';
import { readRelease } from '../report/release.ts';
import { currentRun, listRuns, readResults, reportsDir, resultsFile, ResultsError, runDir } from '../results.ts';

const HELP = `
Usage: npm run report -- [options]

Builds reports/<run-id>/index.html (self-contained: opens offline) and reports/<run-id>/REPORT.md from the run's
results.json; when the run folder also holds release.json (written by \`npm run t4:soak\`, the T4 capstone), both
get a "Release (capstone soak)" section.

Options:
  --run <id>             the run to report (default: the current run, else the newest in reports/)
  --compare <id>         compare with an earlier run, lesson by lesson on each lesson's headline, and flag
                         changes for the worse beyond the measured noise (> 2 combined standard errors and > 5%)
  --fail-on-regression   exit 1 when --compare flags a regression
  -h, --help             show this help

Exit codes: 0 written, 1 regression (with --fail-on-regression), 2 bad usage or unusable results.`;

async function main(): Promise<number> {
  const { values } = parseCli(HELP, {
    run: { type: 'string' },
    compare: { type: 'string' },
    'fail-on-regression': { type: 'boolean' },
  });
  const dir = reportsDir();
  const runs = listRuns(dir);
  const rel = (p: string) => {
    const r = path.relative(process.cwd(), p);
    return r === '' ? '.' : r.startsWith('..') ? p : r;
  };
  if (runs.length === 0) {
    throw new UsageError(`no runs in ${rel(dir)}/ yet: make one with \`npm run t1 -- --quick\` or \`npm run lab -- --quick\``);
  }
  const pick = (id: string, flag: string): string => {
    if (!runs.includes(id)) {
      const recent = runs.slice(-5).reverse().join(', ');
      throw new UsageError(`${flag} ${id}: no such run in ${rel(dir)}/ (recent runs: ${recent})`);
    }
    return id;
  };
  const runId = values.run !== undefined ? pick(values.run, '--run') : (currentRun(dir) ?? runs[runs.length - 1]);
  const results = readResults(resultsFile(dir, runId));
  let previous;
  if (values.compare !== undefined) {
    const prevId = pick(values.compare, '--compare');
    if (prevId === runId) throw new UsageError(`--compare ${prevId} is the run being reported; name an earlier run`);
    previous = readResults(resultsFile(dir, prevId));
  }
  const outDir = runDir(dir, runId);
  const references: ReportContext['references'] = {};
  for (const l of results.lessons) {
    const ref = readReference(l.id);
    if (ref) references[l.id] = ref;
  }
  const { release, warning } = readRelease(outDir);
  if (warning) process.stderr.write(`warning: ${warning}\n`);
  const context: ReportContext = {
    references,
    checkpoints: readCheckpointLog(dir),
    readmes: readmeLinks(results, outDir, (id) => lessonDir(id)),
    ...(release ? { release } : {}),
  };
  const report = await buildReport(results, previous, context);
  const out = writeReport(outDir, report);
  process.stdout.write(`report: ${rel(out.html)}\n        ${rel(out.markdown)}\n`);
  if (report.comparison) {
    const regs = regressions(report.comparison);
    process.stdout.write(
      regs.length
        ? `${regs.length} regression(s) against ${report.comparison.previousRunId}: ${regs.map((r) => `${r.lesson} · ${r.variant} ${r.metric} ${r.change >= 0 ? '+' : ''}${(r.change * 100).toFixed(1)}%`).join(', ')}\n`
        : `no regression against ${report.comparison.previousRunId} beyond the measured noise\n`,
    );
    if (regs.length && values['fail-on-regression']) return 1;
  }
  return 0;
}

runMain(main, [ResultsError]);
