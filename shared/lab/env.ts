/** The machine and code a run measured: printed at the top of every table and report (fastify/benchmarks style). */
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';

/** One command that added lessons to a run. */
export interface RunCommand {
  command: string;
  /** ISO date the command started. */
  date: string;
  commit: string | null;
  dirty: boolean;
  mode: 'quick' | 'full';
  /** The lessons it ran. */
  lessons: string[];
}

export interface RunEnv {
  cpu: string;
  cores: number;
  /** Total memory in bytes. */
  memory: number;
  node: string;
  v8: string;
  os: string;
  /** Full commit hash, or null outside git / before the first commit. */
  commit: string | null;
  /** True when the working tree had uncommitted changes. */
  dirty: boolean;
  /** ISO date the run started. */
  date: string;
  /** The command that produced the run, e.g. `npm run t1 -- --quick`. */
  command: string;
  mode: 'quick' | 'full' | 'mixed';
  /** Every command that added to the run, first to last (the fields above are the first one's). */
  commands?: RunCommand[];
}

function git(args: string[], cwd: string): string | null {
  try {
    return execFileSync('git', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return null;
  }
}

export function gitState(cwd: string): { commit: string | null; dirty: boolean } {
  const commit = git(['rev-parse', 'HEAD'], cwd);
  const status = git(['status', '--porcelain'], cwd);
  return { commit, dirty: status === null ? false : status.length > 0 };
}

/** Reconstruct the command line: `LAB_COMMAND` (set by `npm run lab`) wins, else npm's script name, else argv. */
export function commandLine(): string {
  if (process.env.LAB_COMMAND) return process.env.LAB_COMMAND;
  const args = process.argv.slice(2).join(' ');
  const npmScript = process.env.npm_lifecycle_event;
  if (npmScript && npmScript !== 'npx' && process.env.npm_lifecycle_script?.includes('tsx')) return `npm run ${npmScript}${args ? ` -- ${args}` : ''}`;
  const script = process.argv[1] ? path.relative(process.cwd(), process.argv[1]) || process.argv[1] : '';
  return ['tsx', script, ...process.argv.slice(2)].filter(Boolean).join(' ');
}

export function collectEnv(root: string, mode: 'quick' | 'full', date = new Date()): RunEnv {
  const { commit, dirty } = gitState(root);
  return {
    cpu: os.cpus()[0]?.model?.trim() ?? 'unknown',
    cores: os.availableParallelism?.() ?? os.cpus().length,
    memory: os.totalmem(),
    node: process.version,
    v8: process.versions.v8,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    commit,
    dirty,
    date: date.toISOString(),
    command: commandLine(),
    mode,
  };
}

/** A run id sorts by time and names the code: `2026-11-25T20-15-03Z-1a2b3c4` (`nogit` before the first commit). */
export function makeRunId(date: Date, commit: string | null, dirty = false): string {
  const stamp = date.toISOString().replace(/\.\d+Z$/, 'Z').replace(/:/g, '-');
  return `${stamp}-${commit ? commit.slice(0, 7) : 'nogit'}${dirty ? '-dirty' : ''}`;
}

/** Run ids are used as directory names: keep them to a safe alphabet. */
export function isValidRunId(id: string): boolean {
  return /^[A-Za-z0-9][A-Za-z0-9._-]{0,120}$/.test(id);
}

export function formatEnvLines(env: RunEnv): string[] {
  const gb = (env.memory / 1024 ** 3).toFixed(1);
  const commit = env.commit ? `${env.commit.slice(0, 10)}${env.dirty ? ' (dirty)' : ''}` : `none${env.dirty ? ' (dirty tree)' : ''}`;
  return [
    `CPU      ${env.cpu} × ${env.cores} cores, ${gb} GB RAM`,
    `Runtime  Node ${env.node} (V8 ${env.v8}) on ${env.os}`,
    `Code     commit ${commit}`,
    `Run      ${env.date} · mode ${env.mode} · ${env.command}`,
  ];
}
