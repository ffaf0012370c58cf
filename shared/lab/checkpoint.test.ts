import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { implementations, implFiles, implMode, rejectedWith, wrongSolutions } from './checkpoint.ts';

describe('LAB_IMPL', () => {
  it('defaults to before + after', () => {
    expect(implMode({})).toBe('default');
    expect(implFiles('default')).toEqual(['before', 'after']);
    expect(implFiles('exercise')).toEqual(['exercise']);
  });

  it('rejects an unknown value instead of silently testing something else', () => {
    expect(() => implMode({ LAB_IMPL: 'solution' })).toThrow(/LAB_IMPL="solution" is not one of/);
    expect(() => implMode({ LAB_IMPL: 'wrong/../after' })).toThrow(/is not one of/);
  });

  it('names the wrong solutions of a lesson folder and what each must be rejected with', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lab-wrong-'));
    fs.mkdirSync(path.join(dir, 'wrong'));
    fs.writeFileSync(path.join(dir, 'wrong', 'b-two.ts'), '/**\n * Wrong.\n * @rejected-with 491 chunks in flight, bound 69\n */\n');
    fs.writeFileSync(path.join(dir, 'wrong', 'a-one.ts'), '/** @rejected-with x */\n');
    expect(implMode({ LAB_IMPL: 'wrong/a-one' })).toBe('wrong/a-one');
    expect(wrongSolutions(dir)).toEqual(['wrong/a-one', 'wrong/b-two']);
    expect(implFiles('wrong', dir)).toEqual(['wrong/a-one', 'wrong/b-two']);
    expect(rejectedWith(path.join(dir, 'wrong', 'b-two.ts'))).toBe('491 chunks in flight, bound 69');
    expect(rejectedWith(path.join(dir, 'wrong', 'a-one.ts'))).toBe('x');
  });
});

describe('implementations', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lab-ckpt-'));
  for (const f of ['before', 'after', 'exercise']) fs.writeFileSync(path.join(dir, `${f}.ts`), `export const who = '${f}';\n`);
  const testUrl = pathToFileURL(path.join(dir, 'x.test.ts')).href;

  it('loads the modules the mode names, next to the test file', async () => {
    const got = await implementations<{ who: string }>(testUrl, {});
    expect(got.map(([n, m]) => [n, m.who])).toEqual([
      ['before', 'before'],
      ['after', 'after'],
    ]);
    const ex = await implementations<{ who: string }>(testUrl, { LAB_IMPL: 'exercise' });
    expect(ex.map(([n, m]) => [n, m.who])).toEqual([['exercise', 'exercise']]);
  });

  it('fails clearly when the file does not exist', async () => {
    fs.rmSync(path.join(dir, 'before.ts'));
    await expect(implementations(testUrl, { LAB_IMPL: 'before' })).rejects.toThrow(/before\.ts does not exist/);
  });
});
