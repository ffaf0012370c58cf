/**
 * Made-up soak records and a made-up release input, for the tests of the release report (shared/deploy/soak.test.ts)
 * and of its section in the lab report (shared/lab/report/release.test.ts): no Docker, no soak.
 */
import { availability, type RequestRecord } from '../services/fault-run.ts';
import type { ReleaseInput } from './release-report.ts';

/** `n` searches evenly over [fromMs, toMs), the i-th `ms(i)` long, with outcome `o` (failed: status 0). */
export function madeUpRecords(n: number, fromMs: number, toMs: number, ms: (i: number) => number, o: RequestRecord['outcome'] = 'complete'): RequestRecord[] {
  return Array.from({ length: n }, (_, i) => ({ at: fromMs + ((toMs - fromMs) * i) / n, ms: ms(i), status: o === 'failed' ? 0 : 200, outcome: o }));
}

/** A 60 s quick soak: 990 searches at 20 ms, 8 flagged after the shard kill (at 18 s), 2 failed; 15 s windows. */
export function madeUpReleaseInput(over: Partial<ReleaseInput> = {}): ReleaseInput {
  const rs = [...madeUpRecords(990, 0, 60_000, () => 20), ...madeUpRecords(8, 20_000, 22_000, () => 30, 'flagged'), ...madeUpRecords(2, 48_000, 49_000, () => 1, 'failed')];
  return {
    command: 'node --import tsx shared/deploy/soak.ts --quick',
    startedAt: '2026-12-01T09:50:00.000Z',
    capacity: { qps: 24, how: 'given (--capacity)' },
    targetQps: 17,
    rampMs: 12_000,
    durationMs: 60_000,
    windowMs: 15_000,
    records: rs,
    availability: availability(rs.map((r) => r.outcome)),
    faults: [{ name: 'kill shard-1', atMs: 18_000, healthyAfterMs: 5_400, recoveredAfterMs: 6_000, failed: 0, wrong: 0, flagged: 8, complete: 200, containerHealthyAfterMs: 9_000, how: 'kill -9' }],
    writes: { acknowledged: 100, acknowledgedLost: 0, jobs: 101, jobsLost: 1, refused: 0, firstAttemptAcknowledged: 95, attempts: [] },
    alerts: [{ alertname: 'RagReplicaDown', state: 'pending', severity: 'ticket', labels: 'job=shard', intervals: [{ fromS: 20, toS: 35 }] }],
    notes: ['the load shares the cores'],
    machine: '2 cores',
    ...over,
  };
}
