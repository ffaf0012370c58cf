import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { listRuns, mergeResults, readResults, ResultsError, saveResults, validateResults } from './results.ts';
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
