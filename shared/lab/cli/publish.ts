/**
 * `npm run lab:publish -- --run <id>`: make a full run the project's reference. Writes each lesson's figures into its
 * README (between the lab:reference markers) and its reference.json, and the "at a glance" tables into the chapter
 * READMEs and the root README (between the lab:glance markers; the root has one block per chapter, lab:glance-t1 …).
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseCli, runMain, UsageError } from '../../util/cli.ts';
import { CHAPTERS, REPO_ROOT } from '../lessons.ts';
import { glanceBlock, lessonBlock, PublishError, referenceOf, replaceBlock } from '../publish.ts';
import { lessonDir, writeReference } from '../reference.ts';
import { currentRun, listRuns, readResults, reportsDir, resultsFile, ResultsError } from '../results.ts';

const HELP = `
Usage: npm run lab:publish -- [--run <id>] [--quick-run <id>]

Makes a run the reference the READMEs quote: every lesson of it that ran in full mode gets its tables written into
its README (between <!-- lab:reference --> and <!-- /lab:reference -->) and a reference.json beside it; the chapter
READMEs get the "at a glance" table (between <!-- lab:glance --> and <!-- /lab:glance -->), and the root README
that chapter's block (between <!-- lab:glance-t1 --> and <!-- /lab:glance-t1 -->, …); other chapters' blocks stay.

Options:
  --run <id>         the full run to publish (default: the current run)
  --quick-run <id>   a quick run whose per-lesson durations go into reference.json too (for time estimates)
  -h, --help         show this help

Exit codes: 0 written, 2 bad usage, an unusable run, or a README without its markers.`;

function rewrite(file: string, name: string, content: string): void {
  const text = fs.readFileSync(file, 'utf8');
  const next = replaceBlock(text, name, content, path.relative(REPO_ROOT, file));
  if (next !== text) fs.writeFileSync(file, next);
}

async function main(): Promise<number> {
  const { values } = parseCli(HELP, { run: { type: 'string' }, 'quick-run': { type: 'string' } });
  const dir = reportsDir();
  const runs = listRuns(dir);
  const runId = values.run ?? currentRun(dir);
  if (!runId || !runs.includes(runId)) throw new UsageError(`no such run: ${runId ?? '(no current run)'}; recent: ${runs.slice(-5).join(', ')}`);
  const results = readResults(resultsFile(dir, runId));
  const quick = values['quick-run'] !== undefined ? readResults(resultsFile(dir, values['quick-run'])) : undefined;
  const full = results.lessons.filter((l) => l.mode === 'full' && l.status !== 'skipped');
  if (full.length === 0) throw new UsageError(`run ${runId} has no lesson measured in full mode: publish a full run (npm run lab)`);

  const written: string[] = [];
  for (const l of full) {
    const d = lessonDir(l.id);
    if (!d) continue;
    rewrite(path.join(d, 'README.md'), 'lab:reference', lessonBlock(results, l));
    const q = quick?.lessons.find((x) => x.id === l.id && x.status === 'ok');
    writeReference(referenceOf(results, l, q?.durationMs));
    written.push(l.id);
  }
  // the root README keeps one block per chapter (lab:glance-t1, …): publishing a run of one chapter leaves the
  // other chapters' reference figures as they were
  for (const ch of CHAPTERS) {
    if (!full.some((l) => l.chapter === ch.key)) continue;
    const block = glanceBlock({ ...results, lessons: full }, ch.key);
    rewrite(path.join(REPO_ROOT, ch.dir, 'README.md'), 'lab:glance', block);
    rewrite(path.join(REPO_ROOT, 'README.md'), `lab:glance-${ch.key}`, block);
  }
  process.stdout.write(`published run ${runId}: ${written.length} lesson README(s) and reference.json, chapter and root README tables\n`);
  return 0;
}

runMain(main, [ResultsError, PublishError]);
