/**
 * Run vitest as a child process over some test files with a chosen `LAB_IMPL`, and read back per-file and per-test
 * outcomes from its JSON reporter. One process per mode covers every lesson.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPO_ROOT } from './lessons.ts';
import type { ImplMode } from './checkpoint.ts';

export interface TestOutcome {
  name: string;
  status: 'passed' | 'failed' | 'skipped';
  /** First line(s) of the failure message. */
  message?: string;
}

export interface FileOutcome {
  file: string;
  status: 'passed' | 'failed';
  /** Set when the file failed before running tests (import error, syntax error...). */
  message?: string;
  tests: TestOutcome[];
}

export interface VitestRun {
  files: FileOutcome[];
  exitCode: number;
  /** vitest's own stderr/stdout when it produced no usable JSON. */
  output: string;
}

interface JsonAssertion {
  title: string;
  fullName?: string;
  ancestorTitles?: string[];
  status: string;
  failureMessages?: string[];
}
interface JsonFile {
  name: string;
  status: string;
  message?: string;
  assertionResults?: JsonAssertion[];
}

/** The message lines of a failure plus its first stack frame outside node_modules (where it happened). */
function firstLines(s: string, n = 3): string {
  const lines = s.split('\n').filter((l) => l.trim() !== '');
  const msg = lines.filter((l) => !/^\s*at /.test(l)).slice(0, n);
  const where = lines.find((l) => /^\s*at /.test(l) && !l.includes('node_modules'));
  return [...msg, ...(where ? [where.trim()] : [])].join('\n');
}

/** Run `vitest run <files>` with `LAB_IMPL=<mode>`; never throws for failing tests. */
export async function runVitest(files: string[], mode: ImplMode): Promise<VitestRun> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lab-vitest-'));
  const out = path.join(tmp, 'result.json');
  const bin = path.join(REPO_ROOT, 'node_modules', 'vitest', 'vitest.mjs');
  const args = [bin, 'run', ...files.map((f) => path.relative(REPO_ROOT, f)), '--reporter=json', `--outputFile=${out}`];
  let output = '';
  const exitCode = await new Promise<number>((resolve, reject) => {
    const child = spawn(process.execPath, args, {
      cwd: REPO_ROOT,
      env: { ...process.env, LAB_IMPL: mode, FORCE_COLOR: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve(code ?? 1));
  });
  let data: { testResults?: JsonFile[] } = {};
  try {
    data = JSON.parse(fs.readFileSync(out, 'utf8')) as typeof data;
  } catch {
    // no JSON: vitest could not start; the caller reports `output`.
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  const byFile = new Map((data.testResults ?? []).map((f) => [path.resolve(f.name), f]));
  const result: FileOutcome[] = files.map((file) => {
    const f = byFile.get(path.resolve(file));
    if (!f) return { file, status: 'failed', message: 'vitest did not report this file', tests: [] };
    const tests: TestOutcome[] = (f.assertionResults ?? []).map((a) => ({
      name: [...(a.ancestorTitles ?? []), a.title].join(' › '),
      status: a.status === 'passed' ? 'passed' : a.status === 'failed' ? 'failed' : 'skipped',
      ...(a.failureMessages?.length ? { message: firstLines(a.failureMessages.join('\n')) } : {}),
    }));
    const failed = f.status !== 'passed' || tests.some((t) => t.status === 'failed');
    return {
      file,
      status: failed ? 'failed' : 'passed',
      ...(f.message ? { message: firstLines(f.message) } : {}),
      tests,
    };
  });
  return { files: result, exitCode, output };
}
