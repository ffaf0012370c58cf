import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { estimateLesson, formatDuration, pastDurations } from './eta.ts';
import { saveResults } from './results.ts';
import { fixtureResults } from './test-fixtures.ts';

describe('estimates', () => {
  it('prefers an earlier run, then the reference run, then a default', () => {
    const reports = fs.mkdtempSync(path.join(os.tmpdir(), 'lab-eta-'));
    const lessonDir = fs.mkdtempSync(path.join(os.tmpdir(), 'lab-eta-lesson-'));
    expect(estimateLesson(pastDurations(reports), 't1/01-demo', lessonDir, 'full')).toEqual({ seconds: 60, source: 'default' });
    fs.writeFileSync(path.join(lessonDir, 'reference.json'), JSON.stringify({ durationMs: { full: 42_000 } }));
    expect(estimateLesson(pastDurations(reports), 't1/01-demo', lessonDir, 'full')).toEqual({ seconds: 42, source: 'reference run' });
    saveResults(reports, fixtureResults('2026-11-25T20-00-00Z-a'));
    expect(estimateLesson(pastDurations(reports), 't1/01-demo', lessonDir, 'quick')).toEqual({ seconds: 1, source: 'earlier run' });
  });

  it('prints durations a reader can take in', () => {
    expect([formatDuration(45), formatDuration(200), formatDuration(3900)]).toEqual(['45 s', '3 min', '1 h 05 min']);
  });
});
