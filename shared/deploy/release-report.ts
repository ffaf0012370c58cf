/**
 * The capstone's release report (chapter T4): what a soak of the composed stack (shared/deploy/soak.ts)
 * recorded, judged against the seed's targets, as JSON and Markdown. Pure functions, no I/O: soak.test.ts checks
 * them on made-up records and a made-up Prometheus answer.
 *
 * - **availability**: answers complete or flagged ÷ every search sent (fault-run.ts `availability`), target 99.9%;
 * - **latency** p50/p99 of the available answers, overall and per window (a minute; shorter in a quick run), target
 *   p99 < 200 ms; failed requests are counted apart (a refused connection is fast and would flatter a percentile);
 * - **throughput**: the rate sent and answered, beside the capacity measured on this machine and the seed's
 *   > 1000 QPS (a target for the production machine, not for a 2-core box running the whole stack and the load);
 * - per fault: time to healthy (searches: the first complete answer; writes: the first acknowledged write; the
 *   container: healthy again in Docker), failed requests;
 * - acknowledged writes lost and jobs lost (fault-run.ts `accountWrites`);
 * - the alerts Prometheus raised during the run (`ALERTS`, query_range): name, state, when, for how long.
 */
import { percentile } from '../util/stats.ts';
import type { Availability, FaultSummary, RequestRecord, WriteFaultSummary, WriteLoadReport } from '../services/fault-run.ts';

/** The seed's targets. */
export const TARGETS = { p99Ms: 200, qps: 1000, availability: 0.999 } as const;

export interface LatencyStats {
  /** Searches in the window. */
  requests: number;
  /** Available answers (complete + flagged) the percentiles are taken over. */
  available: number;
  failed: number;
  wrong: number;
  p50Ms: number | null;
  p99Ms: number | null;
}

export interface WindowStats extends LatencyStats {
  /** Window start and end, seconds after the load started. */
  fromS: number;
  toS: number;
  /** Searches sent per second in the window. */
  sentQps: number;
  /** Available answers per second in the window. */
  answeredQps: number;
  availability: number;
}

const round = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d;

/** p50/p99 of the available answers' round trips, and the counts. */
export function latencyStats(records: readonly RequestRecord[]): LatencyStats {
  const ok = records.filter((r) => r.outcome === 'complete' || r.outcome === 'flagged');
  const sorted = Float64Array.from(ok.map((r) => r.ms)).sort();
  return {
    requests: records.length,
    available: ok.length,
    failed: records.filter((r) => r.outcome === 'failed').length,
    wrong: records.filter((r) => r.outcome === 'wrong').length,
    p50Ms: sorted.length ? round(percentile(sorted, 50)) : null,
    p99Ms: sorted.length ? round(percentile(sorted, 99)) : null,
  };
}

/** The run cut in windows of `windowMs` by send time (the last one may be shorter). */
export function windowStats(records: readonly RequestRecord[], durationMs: number, windowMs: number): WindowStats[] {
  if (!(windowMs > 0)) throw new RangeError(`windowMs must be > 0 (got ${windowMs})`);
  const out: WindowStats[] = [];
  for (let from = 0; from < durationMs; from += windowMs) {
    const to = Math.min(durationMs, from + windowMs);
    const inside = records.filter((r) => r.at >= from && r.at < to);
    const s = latencyStats(inside);
    const secs = (to - from) / 1000;
    out.push({ fromS: round(from / 1000), toS: round(to / 1000), ...s, sentQps: round(inside.length / secs), answeredQps: round(s.available / secs), availability: inside.length ? s.available / inside.length : 1 });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------------
// Alerts from Prometheus: `ALERTS` over the run (GET /api/v1/query_range)

/** The part of Prometheus' query_range answer read here. */
export interface QueryRangeAnswer {
  status: string;
  error?: string;
  data?: { resultType: string; result: { metric: Record<string, string>; values: [number, string][] }[] };
}

export interface AlertInterval {
  /** Seconds after the load started (negative: before it). */
  fromS: number;
  toS: number;
}

export interface AlertReport {
  alertname: string;
  /** pending (its condition holds, `for` not over yet) or firing (sent to Alertmanager: someone is paged/ticketed). */
  state: string;
  severity?: string;
  /** The series' other labels (service, instance, job…), `k=v` joined. */
  labels: string;
  intervals: AlertInterval[];
}

/**
 * Every `ALERTS` series of a query_range answer as intervals: samples `stepS` apart belong to one interval, a gap
 * longer than 1.5 steps starts another. An interval ends one step after its last sample (the sample says it held at
 * that instant; the next evaluation found it gone). Times are relative to `startS` (the load's start, Unix seconds).
 */
export function alertIntervals(answer: QueryRangeAnswer, stepS: number, startS: number): AlertReport[] {
  if (answer.status !== 'success') throw new Error(`Prometheus query_range failed: ${answer.error ?? answer.status}`);
  if (!answer.data || answer.data.resultType !== 'matrix') throw new Error(`Prometheus query_range: expected a matrix, got ${answer.data?.resultType ?? 'no data'}`);
  const out: AlertReport[] = [];
  for (const s of answer.data.result) {
    const { alertname = '?', alertstate = '?', severity, __name__: _n, ...rest } = s.metric;
    const times = s.values.filter(([, v]) => Number(v) > 0).map(([t]) => Number(t)).sort((a, b) => a - b);
    const intervals: AlertInterval[] = [];
    for (const t of times) {
      const last = intervals[intervals.length - 1];
      if (last && t - (last.toS + startS - stepS) <= 1.5 * stepS) last.toS = round(t - startS + stepS);
      else intervals.push({ fromS: round(t - startS), toS: round(t - startS + stepS) });
    }
    if (intervals.length === 0) continue;
    const labels = Object.entries(rest)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, v]) => `${k}=${v}`)
      .join(', ');
    out.push({ alertname, state: alertstate, ...(severity ? { severity } : {}), labels, intervals });
  }
  return out.sort((a, b) => a.intervals[0].fromS - b.intervals[0].fromS || a.alertname.localeCompare(b.alertname) || a.state.localeCompare(b.state));
}

// ---------------------------------------------------------------------------------------------------------------------
// The report

/**
 * The fault → the arrival of the first complete answer sent after the last failed, flagged or wrong one of its
 * window (up to the next fault): when answers were whole again for good, not just once. `healthyAfterMs` (the first
 * complete answer sent after the fault) can be a few ms for a fault whose effect starts late (a gateway that drains
 * first, a shard whose death the gateway learns of later); this one cannot. Equal to it when nothing in the window
 * failed; undefined when no complete answer followed.
 */
export function recoveredAfterMs(records: readonly RequestRecord[], fault: Pick<FaultSummary, 'atMs'>, faults: readonly Pick<FaultSummary, 'atMs'>[]): number | undefined {
  const end = faults.map((f) => f.atMs).filter((t) => t > fault.atMs).reduce((m, t) => Math.min(m, t), Infinity);
  const bad = records.filter((r) => r.at >= fault.atMs && r.at < end && r.outcome !== 'complete');
  const after = bad.reduce((m, r) => Math.max(m, r.at), fault.atMs);
  const first = records.filter((r) => r.at >= after && r.outcome === 'complete').reduce<number | undefined>((m, r) => (m === undefined || r.at + r.ms < m ? r.at + r.ms : m), undefined);
  return first === undefined ? undefined : first - fault.atMs;
}

export interface FaultReport extends FaultSummary {
  /** recoveredAfterMs: answers whole again for good. */
  recoveredAfterMs?: number;
  /** The fault → its container healthy again in Docker, ms (undefined: not within the run). */
  containerHealthyAfterMs?: number;
  /** The writes' side (undefined without a write load). */
  writes?: Omit<WriteFaultSummary, 'name' | 'atMs'>;
  /** How it was done (`kill -9 <pid> from the host`, `docker restart`…). */
  how?: string;
}

export interface ReleaseInput {
  command: string;
  startedAt: string;
  /** Measured capacity (QPS) and how. */
  capacity: { qps: number; how: string };
  /** The rate the ramp held (70% of capacity). */
  targetQps: number;
  rampMs: number;
  durationMs: number;
  windowMs: number;
  records: readonly RequestRecord[];
  availability: Availability;
  faults: FaultReport[];
  writes?: WriteLoadReport;
  alerts: AlertReport[] | { error: string };
  /** What the figures cannot be trusted for (load generator on the same cores…). */
  notes: string[];
  /** Machine line, e.g. "2 cores, Linux 6.1". */
  machine: string;
}

export interface Verdict {
  target: string;
  measured: string;
  met: boolean;
}

export interface ReleaseReport extends Omit<ReleaseInput, 'records' | 'writes'> {
  schema: 'rag-perf-lab/release@1';
  overall: LatencyStats & { sentQps: number; answeredQps: number };
  windows: WindowStats[];
  writes?: Omit<WriteLoadReport, 'attempts'>;
  verdicts: Verdict[];
}

const fmtMs = (ms: number | null | undefined) => (ms === null || ms === undefined ? '-' : ms >= 1_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms)} ms`);
const pct = (r: number) => `${(r * 100).toFixed(r >= 0.9999 || r === 0 ? 2 : 3)}%`;

/** Everything the report says, computed from the run. */
export function buildRelease(input: ReleaseInput): ReleaseReport {
  const { records, writes, ...rest } = input;
  const o = latencyStats(records);
  const secs = input.durationMs / 1000;
  const overall = { ...o, sentQps: round(o.requests / secs), answeredQps: round(o.available / secs) };
  // the steady part (after the ramp): the QPS a release is judged by
  const held = records.filter((r) => r.at >= input.rampMs);
  const heldQps = round(held.filter((r) => r.outcome === 'complete' || r.outcome === 'flagged').length / Math.max(0.001, (input.durationMs - input.rampMs) / 1000));
  const verdicts: Verdict[] = [
    { target: `availability ≥ ${pct(TARGETS.availability)}`, measured: `${pct(input.availability.ratio)} (${input.availability.available} of ${input.availability.total}; ${o.failed} failed, ${o.wrong} wrong)`, met: input.availability.ratio >= TARGETS.availability },
    { target: `p99 < ${TARGETS.p99Ms} ms`, measured: `p99 ${fmtMs(o.p99Ms)}, p50 ${fmtMs(o.p50Ms)} (available answers)`, met: o.p99Ms !== null && o.p99Ms < TARGETS.p99Ms },
    {
      target: `> ${TARGETS.qps} QPS`,
      measured: `${heldQps} QPS answered at 70% of the ${round(input.capacity.qps)} QPS this machine's stack reached (the whole stack and the load on ${input.machine})`,
      met: heldQps > TARGETS.qps,
    },
  ];
  if (writes) {
    verdicts.push({ target: 'acknowledged writes lost: 0', measured: `${writes.acknowledgedLost} of ${writes.acknowledged} acknowledged${writes.acknowledgedUnverified ? ` (${writes.acknowledgedUnverified} unverified)` : ''}`, met: writes.acknowledgedLost === 0 });
  }
  const { attempts: _a, ...w } = writes ?? ({} as WriteLoadReport);
  return { schema: 'rag-perf-lab/release@1', ...rest, ...(writes ? { writes: w } : {}), overall, windows: windowStats(records, input.durationMs, input.windowMs), verdicts };
}

/** The report as Markdown (RELEASE.md, and what the soak prints): the rows and sentences of the helpers below. */
export function renderRelease(r: ReleaseReport): string {
  const L: string[] = [];
  const table = (header: string, align: string, rows: string[][]) => L.push(header, align, ...rows.map((row) => `| ${row.join(' | ')} |`));
  L.push(`# Release report: soak of the composed stack`, '');
  L.push(`\`${r.command}\`, started ${r.startedAt}, ${r.machine}.`);
  L.push(
    `Capacity ${round(r.capacity.qps)} QPS (${r.capacity.how}); an open-loop ramp to ${round(r.targetQps)} QPS (70%) over ${fmtMs(r.rampMs)}, held to ${fmtMs(r.durationMs)}, with writes beside it and faults at set times.`,
    '',
  );
  L.push('## Against the targets', '');
  table('| target | measured | met |', '|---|---|---|', releaseTargetRows(r).map(([t, m, met]) => [t, m, met === 'yes' ? 'yes' : '**no**']));
  L.push('', `## Per ${releaseWindowName(r)}`, '');
  const windows = releaseWindowRows(r);
  windows[windows.length - 1][0] = '**all**';
  table('| from–to (s) | sent QPS | answered QPS | availability | failed | wrong | p50 | p99 |', '|---|---:|---:|---:|---:|---:|---:|---:|', windows);
  L.push('', '## Faults', '');
  table(
    '| at | fault | first complete search after | searches whole again after | writes acknowledged again after | container healthy after | failed / flagged / complete searches until the next |',
    '|---:|---|---:|---:|---:|---:|---|',
    releaseFaultRows(r),
  );
  L.push('', RELEASE_FAULTS_NOTE, '');
  L.push('## Writes', '', releaseWritesLine(r));
  L.push('', '## Alerts (Prometheus `ALERTS` over the run)', '');
  const alerts = releaseAlerts(r);
  if ('line' in alerts) L.push(alerts.line);
  else table('| alert | state | severity | labels | when (s after the start) |', '|---|---|---|---|---|', alerts.rows);
  if (r.notes.length) {
    L.push('', '## Read with care', '');
    for (const n of r.notes) L.push(`- ${n}`);
  }
  return L.join('\n') + '\n';
}

// ---------------------------------------------------------------------------------------------------------------------
// The report as table rows and sentences: RELEASE.md (renderRelease) and the lab report (shared/lab/report/release.ts
// shows release.json in `npm run report`) are both made of them; `code` and **bold** kept for the renderer.

export const RELEASE_SCHEMA = 'rag-perf-lab/release@1';

/** "minute" for one-minute windows, else "15 s window". */
export function releaseWindowName(r: Pick<ReleaseReport, 'windowMs'>): string {
  return r.windowMs === 60_000 ? 'minute' : `${r.windowMs / 1000} s window`;
}

/** The run in one sentence: the command, when, where, capacity, ramp and length. */
export function releaseSummaryLine(r: ReleaseReport): string {
  return (
    `\`${r.command}\`, started ${r.startedAt}, ${r.machine}. Capacity ${round(r.capacity.qps)} QPS (${r.capacity.how}); an open-loop ramp to ` +
    `${round(r.targetQps)} QPS over ${fmtMs(r.rampMs)}, held to ${fmtMs(r.durationMs)}, with writes beside it and faults at set times.`
  );
}

export const RELEASE_TARGETS_HEADER = ['Target', 'Measured', 'Met'];

/** Availability, p99, QPS and (with a write load) acknowledged writes lost against the seed's targets: met is "yes" or "no". */
export function releaseTargetRows(r: ReleaseReport): string[][] {
  return r.verdicts.map((v) => [v.target, v.measured, v.met ? 'yes' : 'no']);
}

export const RELEASE_WINDOWS_HEADER = ['From–to (s)', 'Sent QPS', 'Answered QPS', 'Availability', 'Failed', 'Wrong', 'p50', 'p99'];

/** One row per window, then the whole run ("all"). */
export function releaseWindowRows(r: ReleaseReport): string[][] {
  const rows = r.windows.map((w) => [`${w.fromS}–${w.toS}`, String(w.sentQps), String(w.answeredQps), pct(w.availability), String(w.failed), String(w.wrong), fmtMs(w.p50Ms), fmtMs(w.p99Ms)]);
  const o = r.overall;
  rows.push(['all', String(o.sentQps), String(o.answeredQps), pct(r.availability.ratio), String(o.failed), String(o.wrong), fmtMs(o.p50Ms), fmtMs(o.p99Ms)]);
  return rows;
}

export const RELEASE_FAULTS_HEADER = [
  'At',
  'Fault',
  'First complete search after',
  'Searches whole again after',
  'Writes acknowledged again after',
  'Container healthy after',
  'Failed / flagged / complete searches until the next',
];

export function releaseFaultRows(r: ReleaseReport): string[][] {
  return r.faults.map((f) => [
    fmtMs(f.atMs),
    `${f.name}${f.how ? ` (${f.how})` : ''}`,
    f.healthyAfterMs === undefined ? 'never' : fmtMs(f.healthyAfterMs),
    f.recoveredAfterMs === undefined ? 'never' : fmtMs(f.recoveredAfterMs),
    f.writes ? fmtMs(f.writes.healthyAfterMs) : '-',
    fmtMs(f.containerHealthyAfterMs),
    `${f.failed} / ${f.flagged} / ${f.complete}${f.wrong ? ` (${f.wrong} wrong)` : ''}`,
  ]);
}

/** What the fault columns mean. */
export const RELEASE_FAULTS_NOTE =
  '"First complete search after": the fault (the moment it acted) → the first complete (unflagged, correct) answer to a search sent after it; ' +
  '"whole again after": → the first complete answer sent after the last failed, flagged or wrong one before the next fault.';

/** The writes in one sentence (RELEASE.md's "Writes" paragraph). */
export function releaseWritesLine(r: ReleaseReport): string {
  const w = r.writes;
  if (!w) return 'No write load.';
  return (
    `${w.jobs} writes (one-word documents, each retried with its Idempotency-Key until acknowledged or refused): ${w.acknowledged} acknowledged (${w.firstAttemptAcknowledged ?? '?'} on the first attempt), ${w.refused ?? 0} refused, ` +
    `**acknowledged writes lost: ${w.acknowledgedLost}**${w.acknowledgedUnverified ? ` (${w.acknowledgedUnverified} could not be checked)` : ''}, **jobs lost: ${w.jobsLost}** (no outcome when the client gave up)` +
    `${w.appliedUnacknowledged ? `, ${w.appliedUnacknowledged} applied though never acknowledged (harmless: idempotent)` : ''}.`
  );
}

export const RELEASE_ALERTS_HEADER = ['Alert', 'State', 'Severity', 'Labels', 'When (s after the start)'];

/** The alerts as rows, or (no table) why there are none: not read, or none pending or firing. */
export function releaseAlerts(r: ReleaseReport): { rows: string[][] } | { line: string } {
  if ('error' in r.alerts) return { line: `Not read: ${r.alerts.error}` };
  if (r.alerts.length === 0) return { line: 'None pending or firing during the run.' };
  return { rows: r.alerts.map((a) => [a.alertname, a.state, a.severity ?? '-', a.labels || '-', a.intervals.map((i) => `${i.fromS}–${i.toS}`).join(', ')]) };
}

/**
 * Check that `data` (a parsed release.json) has the shape `buildRelease` returns; throws an Error naming the first bad
 * field (`release.verdicts[1].met: expected a boolean, got "yes"`). Returns it typed.
 */
export function validateRelease(data: unknown): ReleaseReport {
  type O = Record<string, unknown>;
  const isObj = (v: unknown): v is O => typeof v === 'object' && v !== null && !Array.isArray(v);
  const bad = (where: string, what: string, v: unknown): never => {
    throw new Error(`${where}: expected ${what}, got ${JSON.stringify(v) ?? 'nothing'}`);
  };
  const obj = (v: unknown, where: string): O => (isObj(v) ? v : bad(where, 'an object', v));
  const arr = (v: unknown, where: string): unknown[] => (Array.isArray(v) ? v : bad(where, 'an array', v));
  const num = (o: O, k: string, where: string, nullable = false) => {
    if (!(typeof o[k] === 'number' || (nullable && o[k] === null))) bad(`${where}.${k}`, nullable ? 'a number or null' : 'a number', o[k]);
  };
  const optNum = (o: O, k: string, where: string) => {
    if (o[k] !== undefined) num(o, k, where);
  };
  const str = (o: O, k: string, where: string) => {
    if (typeof o[k] !== 'string') bad(`${where}.${k}`, 'a string', o[k]);
  };
  const latency = (o: O, where: string) => {
    for (const k of ['requests', 'available', 'failed', 'wrong']) num(o, k, where);
    for (const k of ['p50Ms', 'p99Ms']) num(o, k, where, true);
  };
  const r = obj(data, 'release');
  if (r.schema !== RELEASE_SCHEMA) bad('release.schema', `"${RELEASE_SCHEMA}"`, r.schema);
  for (const k of ['command', 'startedAt', 'machine']) str(r, k, 'release');
  for (const k of ['targetQps', 'rampMs', 'durationMs', 'windowMs']) num(r, k, 'release');
  const cap = obj(r.capacity, 'release.capacity');
  num(cap, 'qps', 'release.capacity');
  str(cap, 'how', 'release.capacity');
  const av = obj(r.availability, 'release.availability');
  for (const k of ['available', 'total', 'ratio']) num(av, k, 'release.availability');
  const o = obj(r.overall, 'release.overall');
  latency(o, 'release.overall');
  for (const k of ['sentQps', 'answeredQps']) num(o, k, 'release.overall');
  arr(r.windows, 'release.windows').forEach((x, i) => {
    const w = `release.windows[${i}]`;
    const win = obj(x, w);
    latency(win, w);
    for (const k of ['fromS', 'toS', 'sentQps', 'answeredQps', 'availability']) num(win, k, w);
  });
  arr(r.verdicts, 'release.verdicts').forEach((x, i) => {
    const w = `release.verdicts[${i}]`;
    const v = obj(x, w);
    str(v, 'target', w);
    str(v, 'measured', w);
    if (typeof v.met !== 'boolean') bad(`${w}.met`, 'a boolean', v.met);
  });
  arr(r.faults, 'release.faults').forEach((x, i) => {
    const w = `release.faults[${i}]`;
    const f = obj(x, w);
    str(f, 'name', w);
    for (const k of ['atMs', 'failed', 'wrong', 'flagged', 'complete']) num(f, k, w);
    for (const k of ['healthyAfterMs', 'recoveredAfterMs', 'containerHealthyAfterMs']) optNum(f, k, w);
    if (f.how !== undefined) str(f, 'how', w);
    if (f.writes !== undefined) optNum(obj(f.writes, `${w}.writes`), 'healthyAfterMs', `${w}.writes`);
  });
  if (r.writes !== undefined) {
    const wr = obj(r.writes, 'release.writes');
    for (const k of ['jobs', 'acknowledged', 'acknowledgedLost', 'jobsLost']) num(wr, k, 'release.writes');
    for (const k of ['refused', 'acknowledgedUnverified', 'firstAttemptAcknowledged', 'appliedUnacknowledged']) optNum(wr, k, 'release.writes');
  }
  if (isObj(r.alerts)) str(r.alerts, 'error', 'release.alerts');
  else {
    arr(r.alerts, 'release.alerts').forEach((x, i) => {
      const w = `release.alerts[${i}]`;
      const a = obj(x, w);
      for (const k of ['alertname', 'state', 'labels']) str(a, k, w);
      if (a.severity !== undefined) str(a, 'severity', w);
      arr(a.intervals, `${w}.intervals`).forEach((y, j) => {
        const iv = obj(y, `${w}.intervals[${j}]`);
        num(iv, 'fromS', `${w}.intervals[${j}]`);
        num(iv, 'toS', `${w}.intervals[${j}]`);
      });
    });
  }
  arr(r.notes, 'release.notes').forEach((n, i) => {
    if (typeof n !== 'string') bad(`release.notes[${i}]`, 'a string', n);
  });
  return data as ReleaseReport;
}
