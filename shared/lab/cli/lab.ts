/**
 * `npm run lab`: every chapter, one after another, into one run id; then the report.
 * Each chapter runs in its own Node process so one chapter's JIT and heap state cannot colour the next one's numbers.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { reportsDir } from '../chapter.ts';
import { parseCli, runMain } from '../../util/cli.ts';
import { gitState, makeRunId } from '../env.ts';
import { CHAPTERS, REPO_ROOT } from '../lessons.ts';
import { resultsFile } from '../results.ts';

const HELP = `
Usage: npm run lab -- [options]

Runs t1, t2, t3 and t4 (each chapter in its own process) into one run, reports/<run-id>/, then builds the report.

Options:
  --quick            small sizes and short rounds (CI)
  --compare <id>     pass to the report: compare with an earlier run
  -h, --help         show this help

Exit codes: 0 all lessons ran or were skipped, 1 something failed, 2 bad usage.`;

function run(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', ...args], { cwd: REPO_ROOT, env, stdio: 'inherit' });
    child.on('error', reject);
    child.on('close', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}

async function main(): Promise<number> {
  const { values } = parseCli(HELP, { quick: { type: 'boolean' }, compare: { type: 'string' } });
  const runId = makeRunId(new Date(), gitState(REPO_ROOT).commit);
  const command = `npm run lab${values.quick ? ' -- --quick' : ''}`;
  const env = { ...process.env, LAB_COMMAND: command };
  const failed: string[] = [];
  for (const ch of CHAPTERS) {
    process.stderr.write(`\n== ${ch.key}: ${ch.title} ==\n`);
    const code = await run([path.join(ch.dir, 'index.ts'), '--run-id', runId, ...(values.quick ? ['--quick'] : [])], env);
    if (code !== 0) failed.push(`${ch.key} (exit ${code})`);
  }
  if (!fs.existsSync(resultsFile(reportsDir(), runId))) {
    process.stderr.write('\nno lesson produced results: nothing to report.\n');
    return failed.length ? 1 : 0;
  }
  process.stderr.write('\n== report ==\n');
  const rc = await run(
    [path.join('shared', 'lab', 'cli', 'report.ts'), '--run', runId, ...(values.compare ? ['--compare', values.compare] : [])],
    env,
  );
  if (rc !== 0) failed.push(`report (exit ${rc})`);
  process.stderr.write(failed.length ? `\nlab run ${runId}: failed: ${failed.join(', ')}\n` : `\nlab run ${runId}: done\n`);
  return failed.length ? 1 : 0;
}

runMain(main);
