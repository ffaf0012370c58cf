/**
 * The capstone's release report computed from made-up records (no Docker, no stack): availability, per-window
 * percentiles, alert intervals from a fake Prometheus query_range answer, the verdicts and the Markdown.
 * The soak itself (shared/deploy/soak.ts) needs Docker and minutes: it is run by hand, not here.
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { type RequestRecord } from '../services/fault-run.ts';
import { COMPOSE_FILE } from './compose.ts';
import { madeUpRecords, madeUpReleaseInput } from './release-report.fixture.ts';
import { alertIntervals, buildRelease, latencyStats, recoveredAfterMs, renderRelease, windowStats, type QueryRangeAnswer } from './release-report.ts';

/** `n` searches evenly over [fromMs, toMs), each `ms` long, with outcome `o`. */
const records = madeUpRecords;

describe('latencyStats and windowStats', () => {
  it('takes percentiles over available answers only and counts failures apart', () => {
    const rs = [...records(100, 0, 1000, (i) => i + 1), ...records(10, 0, 1000, () => 1, 'failed'), ...records(5, 0, 1000, () => 3, 'flagged')];
    const s = latencyStats(rs);
    expect(s).toMatchObject({ requests: 115, available: 105, failed: 10, wrong: 0 });
    // 1..100 and five 3s: the failures' 1 ms do not pull the percentiles down
    expect(s.p50Ms).toBeGreaterThan(40);
    expect(s.p99Ms).toBeGreaterThan(98);
    expect(latencyStats([])).toMatchObject({ requests: 0, p50Ms: null, p99Ms: null });
  });

  it('cuts the run into windows by send time, the last one shorter', () => {
    const rs = [...records(60, 0, 60_000, () => 10), ...records(30, 60_000, 90_000, () => 300), ...records(3, 60_000, 90_000, () => 1, 'failed')];
    const w = windowStats(rs, 90_000, 60_000);
    expect(w.map((x) => [x.fromS, x.toS, x.requests, x.failed])).toEqual([
      [0, 60, 60, 0],
      [60, 90, 33, 3],
    ]);
    expect(w[0]).toMatchObject({ sentQps: 1, answeredQps: 1, availability: 1, p99Ms: 10 });
    expect(w[1].availability).toBeCloseTo(30 / 33);
    expect(w[1].p99Ms).toBe(300);
    expect(w[1].sentQps).toBeCloseTo(1.1);
    expect(() => windowStats(rs, 90_000, 0)).toThrow(/windowMs/);
  });
});

describe('alertIntervals (ALERTS from query_range)', () => {
  const start = 1_700_000_000;
  const answer: QueryRangeAnswer = {
    status: 'success',
    data: {
      resultType: 'matrix',
      result: [
        // pending 20-30 s (three samples 5 s apart), then again at 50 s after a gap
        { metric: { __name__: 'ALERTS', alertname: 'RagReplicaDown', alertstate: 'pending', severity: 'ticket', job: 'shard', instance: 'shard-1:8080' }, values: [[start + 20, '1'], [start + 25, '1'], [start + 30, '1'], [start + 50, '1']] },
        { metric: { __name__: 'ALERTS', alertname: 'RagGatewayDown', alertstate: 'firing', severity: 'page' }, values: [[start + 70, '1'], [start + 75, '1']] },
        // a sample before the load started: negative times
        { metric: { __name__: 'ALERTS', alertname: 'RagEventLoopLagHigh', alertstate: 'pending', severity: 'ticket', service: 'gateway' }, values: [[start - 10, '1']] },
      ],
    },
  };

  it('merges samples one step apart into intervals, splits on gaps, relative to the start, ordered by time', () => {
    const a = alertIntervals(answer, 5, start);
    expect(a.map((x) => [x.alertname, x.state, x.severity, x.labels, x.intervals])).toEqual([
      ['RagEventLoopLagHigh', 'pending', 'ticket', 'service=gateway', [{ fromS: -10, toS: -5 }]],
      ['RagReplicaDown', 'pending', 'ticket', 'instance=shard-1:8080, job=shard', [{ fromS: 20, toS: 35 }, { fromS: 50, toS: 55 }]],
      ['RagGatewayDown', 'firing', 'page', '', [{ fromS: 70, toS: 80 }]],
    ]);
  });

  it('says what went wrong with a failed or unexpected answer', () => {
    expect(() => alertIntervals({ status: 'error', error: 'parse error at char 3' }, 5, start)).toThrow(/query_range failed: parse error/);
    expect(() => alertIntervals({ status: 'success', data: { resultType: 'vector', result: [] } }, 5, start)).toThrow(/expected a matrix, got vector/);
    expect(alertIntervals({ status: 'success', data: { resultType: 'matrix', result: [] } }, 5, start)).toEqual([]);
  });
});

describe('recoveredAfterMs', () => {
  const r = (at: number, outcome: RequestRecord['outcome'], ms = 10): RequestRecord => ({ at, ms, status: outcome === 'failed' ? 0 : 200, outcome });
  it('is the first complete answer sent after the last bad one of the fault\'s window, not the first complete one', () => {
    // complete at once (the fault had not bitten yet), then flagged and failed until 3 s, whole from 3.1 s
    const rs = [r(1_000, 'complete'), r(1_100, 'flagged'), r(2_000, 'failed'), r(3_000, 'flagged'), r(3_100, 'complete'), r(3_200, 'complete'), r(9_000, 'failed')];
    expect(recoveredAfterMs(rs, { atMs: 1_000 }, [{ atMs: 1_000 }, { atMs: 8_000 }])).toBe(2_110);
    // no bad answer in the window: the first complete one
    expect(recoveredAfterMs([r(500, 'complete', 30)], { atMs: 0 }, [{ atMs: 0 }])).toBe(530);
    // never whole again
    expect(recoveredAfterMs([r(100, 'failed')], { atMs: 0 }, [{ atMs: 0 }])).toBeUndefined();
  });
});

describe('buildRelease and renderRelease', () => {
  const input = madeUpReleaseInput();

  it('judges the run against the targets: availability, p99, QPS (with the capacity beside it), writes lost', () => {
    const r = buildRelease(input);
    expect(r.availability.ratio).toBeCloseTo(0.998);
    const v = Object.fromEntries(r.verdicts.map((x) => [x.target.split(' ')[0], x]));
    expect(v.availability.met).toBe(false); // 99.8% < 99.9%
    expect(v.p99.met).toBe(true); // 20-30 ms
    expect(v['>'].met).toBe(false);
    expect(v['>'].measured).toMatch(/70% of the 24 QPS this machine's stack reached/);
    expect(v.acknowledged.met).toBe(true);
    expect(r.windows).toHaveLength(4);
    expect(r.windows.reduce((s, w) => s + w.requests, 0)).toBe(1000);
    expect((r as { records?: unknown }).records, 'the raw records stay out of the JSON').toBeUndefined();
    expect((r.writes as { attempts?: unknown }).attempts).toBeUndefined();
    expect(JSON.parse(JSON.stringify(r)).schema).toBe('rag-perf-lab/release@1');
  });

  it('renders every section in Markdown', () => {
    const md = renderRelease(buildRelease(input));
    expect(md).toMatch(/^# Release report/);
    expect(md).toMatch(/\| availability ≥ 99\.900% \| 99\.800% .* \| \*\*no\*\* \|/);
    expect(md).toMatch(/\| 18\.0 s \| kill shard-1 \(kill -9\) \| 5\.4 s \| 6\.0 s \| - \| 9\.0 s \|/);
    expect(md).toMatch(/acknowledged writes lost: 0\*\*.*\*\*jobs lost: 1\*\*/);
    expect(md).toMatch(/\| RagReplicaDown \| pending \| ticket \| job=shard \| 20–35 \|/);
    expect(md).toMatch(/Per 15 s window/);
    const failedAlerts = renderRelease(buildRelease({ ...input, alerts: { error: 'connection refused' } }));
    expect(failedAlerts).toMatch(/Not read: connection refused/);
  });
});

describe('the stack Prometheus loads the rules the soak reads ALERTS from', () => {
  it('compose.yml mounts deploy/prometheus/rules read-only where prometheus.yml looks for them', () => {
    const compose = parse(readFileSync(COMPOSE_FILE, 'utf8'), { merge: true }) as { services: { prometheus: { volumes: string[] } } };
    expect(compose.services.prometheus.volumes).toContain('../prometheus/rules:/etc/prometheus/rules:ro');
    const prom = parse(readFileSync(COMPOSE_FILE.replace(/compose\.yml$/, 'prometheus.yml'), 'utf8')) as { rule_files: string[] };
    expect(prom.rule_files).toEqual(['/etc/prometheus/rules/*.yml']);
  });
});
