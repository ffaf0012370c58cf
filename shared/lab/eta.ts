/**
 * How long lessons will take, so a long run can say so at its start and as it goes: each lesson's duration in the
 * newest earlier run on this machine (same mode), else its reference run (`reference.json`, written with the README
 * figures), else a rough default.
 */
import fs from 'node:fs';
import path from 'node:path';
import { listRuns, readResults, resultsFile } from './results.ts';

export interface Estimate {
  seconds: number;
  source: 'earlier run' | 'reference run' | 'default';
}

const DEFAULT_SECONDS = { quick: 8, full: 60 } as const;

/** Durations (s) by `<lesson id>|<mode>` from the runs in `reportsDir`, newest first wins. */
export function pastDurations(reportsDir: string, maxRuns = 20): Map<string, number> {
  const out = new Map<string, number>();
  for (const id of listRuns(reportsDir).reverse().slice(0, maxRuns)) {
    try {
      for (const l of readResults(resultsFile(reportsDir, id)).lessons) {
        const key = `${l.id}|${l.mode}`;
        if (l.status === 'ok' && l.durationMs > 0 && !out.has(key)) out.set(key, l.durationMs / 1000);
      }
    } catch {
      // an unreadable old run is no reason to stop a new one
    }
  }
  return out;
}

export function estimateLesson(past: Map<string, number>, lessonId: string, lessonDir: string, mode: 'quick' | 'full'): Estimate {
  const seen = past.get(`${lessonId}|${mode}`);
  if (seen !== undefined) return { seconds: seen, source: 'earlier run' };
  const ref = path.join(lessonDir, 'reference.json');
  if (fs.existsSync(ref)) {
    try {
      const r = JSON.parse(fs.readFileSync(ref, 'utf8')) as { durationMs?: Record<string, number> };
      const ms = r.durationMs?.[mode];
      if (typeof ms === 'number' && ms > 0) return { seconds: ms / 1000, source: 'reference run' };
    } catch {
      // fall through to the default
    }
  }
  return { seconds: DEFAULT_SECONDS[mode], source: 'default' };
}

/** "45 s", "3 min", "1 h 05 min". */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 90) return `${s} s`;
  const m = Math.round(s / 60);
  if (m < 60) return `${m} min`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, '0')} min`;
}
