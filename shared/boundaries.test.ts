import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BOUNDARY_RULES, checkBoundaries, formatViolation } from './boundaries.ts';
import { REPO_ROOT } from './util/paths.ts';

describe('shared/ import boundaries', () => {
  const report = checkBoundaries(REPO_ROOT);

  it('engine code imports no harness, service, load test, benchmark or metrics; util no harness or service', () => {
    expect(report.violations.map(formatViolation)).toEqual([]);
  });

  it('checks the folders the rules name (a renamed folder would pass silently)', () => {
    expect(report.missing).toEqual([]);
    for (const file of ['shared/engine.ts', 'shared/index/bm25.ts', 'shared/corpus/chunk.ts', 'shared/util/stats.ts']) {
      expect(report.checked).toContain(file);
    }
    expect(report.checked.some((f) => f.startsWith('shared/lab/') || f.startsWith('shared/serve/'))).toBe(false);
  });
});

describe('checkBoundaries on a fixture tree', () => {
  const root = mkdtempSync(join(tmpdir(), 'boundaries-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  const write = (path: string, text: string) => {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  };
  write('shared/lab/runner.ts', 'export const run = 1;\n');
  write('shared/serve/app.ts', 'export const app = 1;\n');
  write('shared/observe/metrics.ts', 'export const m = 1;\n');
  write('shared/bench/scale.ts', 'export const b = 1;\n');
  write('shared/loadtest/driver.ts', 'export const d = 1;\n');
  write('shared/types.ts', 'export type T = number;\n');
  write('shared/errors.ts', 'export class E extends Error {}\n');
  write(
    'shared/index/bad.ts',
    [
      "import { E } from '../errors.ts';", // allowed
      'import {',
      '  run,',
      "} from '../lab/runner.ts';", // 4: multi-line static import
      "// import { app } from '../serve/app.ts';", // a comment: not an import
      "const s = \"import { app } from '../serve/app.ts'\";", // a string: not an import
      "export * from '../observe/metrics.ts';", // 7: re-export
      "export async function load() { return import('../serve/app.ts'); }", // 8: dynamic import
      "import 'fastify';", // a package: not checked
      'export { E, run, s };',
      '',
    ].join('\n'),
  );
  write('shared/index/good.ts', "import type { T } from '../types.ts';\nexport const x: T = 1;\n");
  // reaches the harness through a file no rule covers
  write('shared/engine.ts', "import { helper } from './eval/helper.js';\nexport const e = helper;\n");
  write('shared/eval/helper.ts', "\nimport { run } from '../lab/runner.ts';\nexport const helper = run;\n");
  // util may use benchmarks, not the service
  write('shared/util/x.ts', "import { b } from '../bench/scale.ts';\nimport { d } from '../loadtest/driver.ts';\nexport { b, d };\n");

  const report = checkBoundaries(root);

  it('names the file, line and forbidden target of every violation, and nothing else', () => {
    expect(report.violations.map(formatViolation).sort()).toEqual(
      [
        "shared/engine.ts:1 imports './eval/helper.js' → shared/eval/helper.ts:2 imports '../lab/runner.ts' → shared/lab/runner.ts (engine code must not import shared/lab)",
        "shared/index/bad.ts:4 imports '../lab/runner.ts' → shared/lab/runner.ts (engine code must not import shared/lab)",
        "shared/index/bad.ts:7 imports '../observe/metrics.ts' → shared/observe/metrics.ts (engine code must not import shared/observe)",
        "shared/index/bad.ts:8 imports '../serve/app.ts' → shared/serve/app.ts (engine code must not import shared/serve)",
        "shared/util/x.ts:2 imports '../loadtest/driver.ts' → shared/loadtest/driver.ts (shared/util must not import shared/loadtest)",
      ].sort(),
    );
  });

  it('reports rule folders that do not exist', () => {
    expect(report.missing.sort()).toEqual(['shared/answer', 'shared/corpus', 'shared/embed', 'shared/retrieve', 'shared/text']);
  });

  it('passes once the violations are gone', () => {
    write('shared/index/bad.ts', "import { E } from '../errors.ts';\nexport { E };\n");
    write('shared/eval/helper.ts', 'export const helper = 1;\n');
    write('shared/util/x.ts', "import { b } from '../bench/scale.ts';\nexport { b };\n");
    expect(checkBoundaries(root, BOUNDARY_RULES).violations).toEqual([]);
  });
});
