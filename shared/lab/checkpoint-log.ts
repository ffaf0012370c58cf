/**
 * The last checkpoint result of each lesson (`reports/checkpoints.json`), written by `npm run checkpoint` so the
 * report can say where the learner stands: passed, failing (and on what), or not tried yet.
 */
import fs from 'node:fs';
import path from 'node:path';

export interface CheckpointRecord {
  /** Which implementation was checked: 'exercise' for a learner. */
  impl: string;
  status: 'pass' | 'fail';
  passed: number;
  failed: number;
  date: string;
  /** The first failure, in the checkpoint's words. */
  firstFailure?: string;
}

export const CHECKPOINT_LOG = 'checkpoints.json';

export function readCheckpointLog(reportsDir: string): Record<string, CheckpointRecord> {
  const file = path.join(reportsDir, CHECKPOINT_LOG);
  if (!fs.existsSync(file)) return {};
  try {
    const data = JSON.parse(fs.readFileSync(file, 'utf8')) as unknown;
    return data && typeof data === 'object' && !Array.isArray(data) ? (data as Record<string, CheckpointRecord>) : {};
  } catch {
    return {};
  }
}

/** Record results (one per lesson), keeping the other lessons' records. Written atomically. */
export function recordCheckpoints(reportsDir: string, records: Record<string, CheckpointRecord>): void {
  const all = { ...readCheckpointLog(reportsDir), ...records };
  fs.mkdirSync(reportsDir, { recursive: true });
  const file = path.join(reportsDir, CHECKPOINT_LOG);
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, `${JSON.stringify(all, null, 2)}\n`);
  fs.renameSync(tmp, file);
}
