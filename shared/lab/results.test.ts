import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { commandsOf, currentRun, listRuns, mergeResults, readResults, ResultsError, saveResults, setCurrentRun, validateResults } from './results.ts';
import { fixtureLesson, fixtureResults } from './test-fixtures.ts';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'lab-results-'));

describe('validateResults', () => {
  it('accepts a well-formed results object (after a JSON round trip)', () => {
    const data = JSON.parse(JSON.stringify(fixtureResults()));
    expect(validateResults(data).runId).toBe('2026-11-25T20-00-00Z-abc1234');
  });

  it.each([
    ['not an object', [], /expected a JSON object/],
    ['wrong schema', { ...fixtureResults(), schema: 'other' }, /results\.schema/],
    ['missing env', { ...fixtureResults(), env: undefined }, /results\.env/],
    ['lessons not an array', { ...fixtureResults(), lessons: {} }, /results\.lessons/],
    [
      'a variant without stats',
      { ...fixtureResults(), lessons: [{ ...fixtureLesson(), variants: [{ name: 'x', status: 'ok' }] }] },
      /results\.lessons\[0\]\.variants\[0\]\.stats/,
    ],
    ['a bad lesson status', { ...fixtureResults(), lessons: [{ ...fixtureLesson(), status: 'meh' }] }, /lessons\[0\]\.status/],
  ])('rejects %s, naming the field', (_what, data, msg) => {
    expect(() => validateResults(data)).toThrow(ResultsError);
    expect(() => validateResults(data)).toThrow(msg);
  });
});

describe('readResults', () => {
  it('names the file when it is not JSON', () => {
    const file = path.join(tmp(), 'results.json');
    fs.writeFileSync(file, '{ nope');
    expect(() => readResults(file)).toThrow(new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is not valid JSON`));
  });

  it('names the file and the field when the shape is wrong', () => {
    const file = path.join(tmp(), 'results.json');
    fs.writeFileSync(file, JSON.stringify({ schema: 'rag-perf-lab/results@1', runId: 'x' }));
    expect(() => readResults(file)).toThrow(/results\.json is not a lab results file: results\.env/);
  });
});

describe('merging runs', () => {
  it('replaces a lesson with the same id and appends new ones', () => {
    const a = fixtureResults();
    const b = { ...fixtureResults(), lessons: [{ ...fixtureLesson('t1/01-demo'), title: 'again' }, fixtureLesson('t2/01-x')] };
    const m = mergeResults(a, b);
    expect(m.lessons.map((l) => l.id)).toEqual(['t1/01-demo', 't1/02-skip', 't2/01-x']);
    expect(m.lessons[0].title).toBe('again');
  });

  it('marks the header mode mixed when chapters ran in different modes', () => {
    const b = fixtureResults();
    b.env = { ...b.env, mode: 'full' };
    expect(mergeResults(fixtureResults(), b).env.mode).toBe('mixed');
  });

  it('saves, merges on disk and lists runs oldest first', () => {
    const dir = tmp();
    saveResults(dir, fixtureResults('2026-11-25T21-00-00Z-b'));
    saveResults(dir, fixtureResults('2026-11-25T20-00-00Z-a'));
    const { merged } = saveResults(dir, { ...fixtureResults('2026-11-25T20-00-00Z-a'), lessons: [fixtureLesson('t3/01-y')] });
    expect(merged.lessons).toHaveLength(3);
    expect(listRuns(dir)).toEqual(['2026-11-25T20-00-00Z-a', '2026-11-25T21-00-00Z-b']);
    expect(listRuns(path.join(dir, 'missing'))).toEqual([]);
  });
});

describe('a run that accumulates', () => {
  it('lists every command that added to it, and stamps each lesson with its own command and commit', () => {
    const first = fixtureResults();
    const second = { ...fixtureResults(), env: { ...fixtureResults().env, command: 'npm run t1 -- --only 09-vector-math', commit: 'fff0000', date: '2026-11-26T09:00:00.000Z' }, lessons: [fixtureLesson('t1/09-x')] };
    const m = mergeResults(mergeResults(undefined, first), second);
    expect(commandsOf(m.env).map((c) => [c.command, c.lessons])).toEqual([
      ['npm run t1 -- --quick', ['t1/01-demo', 't1/02-skip']],
      ['npm run t1 -- --only 09-vector-math', ['t1/09-x']],
    ]);
    expect(m.lessons.find((l) => l.id === 't1/09-x')).toMatchObject({ command: 'npm run t1 -- --only 09-vector-math', commit: 'fff0000' });
    expect(m.lessons.find((l) => l.id === 't1/01-demo')).toMatchObject({ command: 'npm run t1 -- --quick', commit: 'abc1234def' });
  });

  it('remembers the current run while its results exist', () => {
    const dir = tmp();
    expect(currentRun(dir)).toBeUndefined();
    setCurrentRun(dir, 'r1');
    expect(currentRun(dir)).toBeUndefined();
    saveResults(dir, fixtureResults('r1'));
    expect(currentRun(dir)).toBe('r1');
    fs.rmSync(path.join(dir, 'r1'), { recursive: true });
    expect(currentRun(dir)).toBeUndefined();
  });

  it('reads a results file of the previous shape (no headline, one command)', () => {
    const old = JSON.parse(JSON.stringify({ ...fixtureResults(), schema: 'rag-perf-lab/results@1' }));
    delete old.lessons[0].headline;
    const r = validateResults(old);
    expect(r.schema).toBe('rag-perf-lab/results@2');
    expect(commandsOf(r.env)).toHaveLength(1);
  });
});
