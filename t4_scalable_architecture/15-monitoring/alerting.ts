/**
 * The alerting lab of lesson 15: alert rules as data (`AlertSpec`), rendered to the PromQL of deploy/prometheus, and
 * evaluated the way Prometheus evaluates them (every minute, rates over windows, `for`) on a set of synthetic
 * incidents, each labelled with what a good on-call setup does about it (page, ticket, nothing).
 *
 * Series are per minute, for the gateway's queries: requests, 5xx errors, and the latency histogram with the
 * services' real buckets (shared/observe/service-metrics.ts LATENCY_BUCKETS), so `histogram_quantile` here
 * interpolates within the same buckets Prometheus would. Everything is deterministic (expected counts, no noise):
 * the checkpoint and the bench count missed incidents and false pages, never time anything.
 */
import { LATENCY_BUCKETS } from '../../shared/observe/service-metrics.ts';

// ---------------------------------------------------------------------------------------------------------------
// The objective and the rules

export interface Slo {
  /** Share of queries that must succeed (no 5xx) over the period: 0.999. */
  objective: number;
  /** The SLO's period, days: 30. */
  periodDays: number;
  /** Latency target: `latencyQuantile` of queries faster than this, seconds (0.2). */
  latencyTargetSeconds: number;
  /** 0.99: the p99. */
  latencyQuantile: number;
}

/** The seed's targets: 99.9% of queries answered over 30 days, p99 < 200 ms. */
export const SLO: Slo = { objective: 0.999, periodDays: 30, latencyTargetSeconds: 0.2, latencyQuantile: 0.99 };

export type Severity = 'page' | 'ticket';

/** A Prometheus duration: '5m', '30m', '1h', '6h', '1d', '3d'. */
export type Duration = string;

/** One long/short window pair of a burn-rate alert: fires when the error ratio is over `factor` × the budget in both. */
export interface BurnWindow {
  long: Duration;
  /** Leave out for a single-window alert (it then stays firing as long as the long window remembers the incident). */
  short?: Duration;
  /** Burn rate: how many times faster than "exactly the budget over the period" the errors come. */
  factor: number;
}

export type AlertSpec =
  /** Error-budget burn rate: any of `windows` (OR). Thresholds are `factor × (1 − objective)`. */
  | { kind: 'burn-rate'; name: string; severity: Severity; windows: BurnWindow[]; for?: Duration }
  /** Share of queries answered 5xx over `window` above `threshold`. */
  | { kind: 'error-ratio'; name: string; severity: Severity; threshold: number; window: Duration; for?: Duration }
  /** Number of 5xx over `window` above `threshold`. */
  | { kind: 'error-count'; name: string; severity: Severity; threshold: number; window: Duration; for?: Duration }
  /** A latency quantile from the histogram over `window` above `thresholdSeconds`. */
  | { kind: 'latency-quantile'; name: string; severity: Severity; quantile: number; thresholdSeconds: number; window: Duration; for?: Duration }
  /** Mean latency (sum ÷ count) over `window` above `thresholdSeconds`. */
  | { kind: 'latency-average'; name: string; severity: Severity; thresholdSeconds: number; window: Duration; for?: Duration };

/** What before.ts, after.ts and the learner's exercise.ts export. */
export type AlertPolicy = (slo: Slo) => AlertSpec[];

const UNIT_MIN: Record<string, number> = { m: 1, h: 60, d: 1440 };

/** '90m' → 90, '6h' → 360, '3d' → 4320. */
export function minutes(d: Duration): number {
  const m = /^(\d+)([mhd])$/.exec(d);
  if (!m) throw new Error(`"${d}" is not a duration like 5m, 1h or 3d`);
  return Number(m[1]) * UNIT_MIN[m[2]];
}

/** The error budget as a ratio: 1 − objective, rounded so 1 − 0.999 prints as 0.001. */
export function budget(slo: Slo): number {
  return Number((1 - slo.objective).toPrecision(6));
}

/** The windows deploy/prometheus/rules/recording.yml records the SLO's error ratio over. */
export const RECORDED_WINDOWS = ['5m', '30m', '1h', '2h', '6h', '1d', '3d'];

// ---------------------------------------------------------------------------------------------------------------
// PromQL

const QUERIES = 'service="gateway", route="/v1/query"';

/** The `expr` of a burn-rate alert, exactly as deploy/prometheus/rules/alerts.yml writes it. */
export function renderBurnRateExpr(windows: readonly BurnWindow[], slo: Slo): string {
  const b = budget(slo);
  const over = (w: Duration, f: number) => `slo:rag_query_errors:ratio_rate${w} > (${f} * ${b})`;
  return windows.map((w) => `(${over(w.long, w.factor)}${w.short ? ` and ${over(w.short, w.factor)}` : ''})`).join('\nor\n');
}

/** One alert as a Prometheus rule. */
export function renderAlert(spec: AlertSpec, slo: Slo): { alert: string; expr: string; for?: string; labels: { severity: Severity } } {
  let expr: string;
  switch (spec.kind) {
    case 'burn-rate':
      expr = renderBurnRateExpr(spec.windows, slo);
      break;
    case 'error-ratio':
      expr = RECORDED_WINDOWS.includes(spec.window)
        ? `slo:rag_query_errors:ratio_rate${spec.window} > ${spec.threshold}`
        : `sum(rate(rag_http_request_duration_seconds_count{${QUERIES}, status=~"5.."}[${spec.window}])) / sum(rate(rag_http_request_duration_seconds_count{${QUERIES}}[${spec.window}])) > ${spec.threshold}`;
      break;
    case 'error-count':
      expr = `sum(increase(rag_http_request_duration_seconds_count{${QUERIES}, status=~"5.."}[${spec.window}])) > ${spec.threshold}`;
      break;
    case 'latency-quantile':
      expr = `histogram_quantile(${spec.quantile}, sum by (le) (rate(rag_http_request_duration_seconds_bucket{${QUERIES}}[${spec.window}]))) > ${spec.thresholdSeconds}`;
      break;
    case 'latency-average':
      expr = `sum(rate(rag_http_request_duration_seconds_sum{${QUERIES}}[${spec.window}])) / sum(rate(rag_http_request_duration_seconds_count{${QUERIES}}[${spec.window}])) > ${spec.thresholdSeconds}`;
      break;
  }
  return { alert: spec.name, expr, ...(spec.for ? { for: spec.for } : {}), labels: { severity: spec.severity } };
}

/** Why `spec` cannot be used as written (a bad duration, a window nothing records, a factor ≤ 0), or undefined. */
export function specProblem(spec: AlertSpec): string | undefined {
  try {
    if (spec.for !== undefined) minutes(spec.for);
    if (spec.kind === 'burn-rate') {
      if (spec.windows.length === 0) return `${spec.name}: a burn-rate alert needs at least one window`;
      for (const w of spec.windows) {
        for (const d of [w.long, w.short]) {
          if (d !== undefined && !RECORDED_WINDOWS.includes(d)) return `${spec.name}: window ${d} has no recording rule (recorded: ${RECORDED_WINDOWS.join(', ')})`;
        }
        if (w.short !== undefined && minutes(w.short) >= minutes(w.long)) return `${spec.name}: the short window ${w.short} must be shorter than the long one ${w.long}`;
        if (!(w.factor > 0)) return `${spec.name}: burn-rate factor must be > 0, got ${w.factor}`;
      }
    } else minutes(spec.window);
  } catch (err) {
    return `${spec.name}: ${(err as Error).message}`;
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------------------------
// Synthetic traffic

/** Upper bounds of the histogram's buckets, seconds, +Inf last. */
export const BOUNDS = [...LATENCY_BUCKETS, Infinity];

/** A latency mix: [seconds, share of the minute's requests]. */
export type LatencyMix = ReadonlyArray<readonly [number, number]>;

/** Normal days: p99 ≈ 130 ms, mean ≈ 35 ms. */
export const NORMAL_LATENCY: LatencyMix = [
  [0.03, 0.9],
  [0.06, 0.08],
  [0.12, 0.015],
  [0.18, 0.005],
];

/** What one minute of a scenario looks like. */
export interface MinuteShape {
  /** Queries this minute. */
  requests: number;
  /** Share answered 5xx. */
  errorRatio: number;
  latency: LatencyMix;
}

/** A scenario's series, as prefix sums (index t + 1 holds the total of minutes 0..t). */
export interface Series {
  minutes: number;
  requests: Float64Array;
  errors: Float64Array;
  latencySum: Float64Array;
  /** buckets[b]: requests that took ≤ BOUNDS[b] and > BOUNDS[b − 1]. */
  buckets: Float64Array[];
}

export function buildSeries(length: number, shape: (t: number) => MinuteShape): Series {
  const s: Series = {
    minutes: length,
    requests: new Float64Array(length + 1),
    errors: new Float64Array(length + 1),
    latencySum: new Float64Array(length + 1),
    buckets: BOUNDS.map(() => new Float64Array(length + 1)),
  };
  for (let t = 0; t < length; t++) {
    const m = shape(t);
    s.requests[t + 1] = s.requests[t] + m.requests;
    s.errors[t + 1] = s.errors[t] + m.requests * m.errorRatio;
    let sum = 0;
    const add = new Float64Array(BOUNDS.length);
    for (const [sec, share] of m.latency) {
      sum += sec * share * m.requests;
      add[BOUNDS.findIndex((b) => sec <= b)] += share * m.requests;
    }
    s.latencySum[t + 1] = s.latencySum[t] + sum;
    for (let b = 0; b < BOUNDS.length; b++) s.buckets[b][t + 1] = s.buckets[b][t] + add[b];
  }
  return s;
}

const inWindow = (p: Float64Array, t: number, w: number) => p[t + 1] - p[Math.max(0, t + 1 - w)];

/** `histogram_quantile(q, …[w])` at minute t, as Prometheus computes it (linear within the bucket). */
export function quantileAt(s: Series, t: number, w: number, q: number): number {
  const counts = s.buckets.map((b) => inWindow(b, t, w));
  const total = counts.reduce((a, c) => a + c, 0);
  if (total === 0) return NaN;
  const rank = q * total;
  let cum = 0;
  for (let b = 0; b < BOUNDS.length; b++) {
    if (cum + counts[b] >= rank && counts[b] > 0) {
      if (BOUNDS[b] === Infinity) return BOUNDS[b - 1];
      const lower = b === 0 ? 0 : BOUNDS[b - 1];
      return lower + (BOUNDS[b] - lower) * ((rank - cum) / counts[b]);
    }
    cum += counts[b];
  }
  return BOUNDS[BOUNDS.length - 2];
}

/** The error ratio over the `w` minutes up to t (0 without traffic). */
export function errorRatioAt(s: Series, t: number, w: number): number {
  const r = inWindow(s.requests, t, w);
  return r === 0 ? 0 : inWindow(s.errors, t, w) / r;
}

/** Whether the alert's expression is true at minute t (before `for`). */
function conditionAt(spec: AlertSpec, slo: Slo, s: Series, t: number): boolean {
  switch (spec.kind) {
    case 'burn-rate': {
      const limit = (f: number) => f * budget(slo);
      return spec.windows.some((w) => errorRatioAt(s, t, minutes(w.long)) > limit(w.factor) && (w.short === undefined || errorRatioAt(s, t, minutes(w.short)) > limit(w.factor)));
    }
    case 'error-ratio':
      return errorRatioAt(s, t, minutes(spec.window)) > spec.threshold;
    case 'error-count':
      return inWindow(s.errors, t, minutes(spec.window)) > spec.threshold;
    case 'latency-quantile':
      return quantileAt(s, t, minutes(spec.window), spec.quantile) > spec.thresholdSeconds;
    case 'latency-average': {
      const w = minutes(spec.window);
      const n = inWindow(s.requests, t, w);
      return n > 0 && inWindow(s.latencySum, t, w) / n > spec.thresholdSeconds;
    }
  }
}

/** Minutes at which the alert is firing (its condition held for `for`), from `from` to the end. */
export function firing(spec: AlertSpec, slo: Slo, s: Series, from = 0): boolean[] {
  const hold = spec.for ? minutes(spec.for) : 0;
  const out = new Array<boolean>(s.minutes).fill(false);
  let since = -1;
  for (let t = from; t < s.minutes; t++) {
    if (conditionAt(spec, slo, s, t)) {
      if (since < 0) since = t;
      out[t] = t - since >= hold;
    } else since = -1;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// The incident set

export type Expect = 'page' | 'ticket' | 'none';

export interface Scenario {
  id: string;
  /** Short name used in messages: 'tail-latency', 'traffic surge', '1-minute blip'. */
  name: string;
  /** What happened, in a reader's words. */
  title: string;
  /** What a good setup does: wake someone (page), open a ticket, or nothing. */
  expect: Expect;
  /** The incident's first and last minute (none: the interesting stretch). */
  start: number;
  end: number;
  series: Series;
}

export interface IncidentSetOptions {
  /** Where in the day the incidents start, minutes after midnight (traffic peaks at 06:00, is lowest at 18:00). Default [0]. */
  phases?: number[];
  /** Queries per minute on average (±50% over the day). Default 3000 (50/s). */
  perMinute?: number;
}

/** Scenario length: 4 days of minutes; the first day is history (no alert is judged on it). */
export const DAYS = 4;
export const HISTORY = 1440;
const BASE_ERRORS = 0.0005;

/** The synthetic incident set: incidents that must page, one that must open a ticket, and days that must stay quiet. */
export function incidentSet(opts: IncidentSetOptions = {}): Scenario[] {
  const perMinute = opts.perMinute ?? 3000;
  const traffic = (t: number) => perMinute * (1 + 0.5 * Math.sin((2 * Math.PI * t) / 1440));
  const normal = (t: number): MinuteShape => ({ requests: traffic(t), errorRatio: BASE_ERRORS, latency: NORMAL_LATENCY });
  const length = DAYS * 1440;
  const out: Scenario[] = [];
  for (const phase of opts.phases ?? [0]) {
    const at = 2 * 1440 + phase;
    const suffix = (opts.phases ?? [0]).length > 1 ? `@${String(Math.floor(phase / 60)).padStart(2, '0')}h` : '';
    const make = (id: string, name: string, title: string, expect: Expect, start: number, dur: number, during: (t: number, base: MinuteShape) => MinuteShape): Scenario => ({
      id: id + suffix,
      name,
      title,
      expect,
      start,
      end: start + dur - 1,
      series: buildSeries(length, (t) => (t >= start && t < start + dur ? during(t, normal(t)) : normal(t))),
    });
    out.push(
      make('outage', 'full outage', 'full outage: every query fails for 15 min', 'page', at, 15, (_t, b) => ({ ...b, errorRatio: 1 })),
      make('partial-outage', '5% errors for 1 h', 'a shard gone without degrading: 5% of queries fail for 1 h', 'page', at, 60, (_t, b) => ({ ...b, errorRatio: 0.05 })),
      make('elevated-errors', '2% errors for 3 h', '2% of queries fail for 3 h (a bad release)', 'page', at, 180, (_t, b) => ({ ...b, errorRatio: 0.02 })),
      make('tail-latency', 'tail-latency', 'tail latency: 3% of queries take 450 ms for 2 h (a slow shard), the mean barely moves', 'page', at, 120, (_t, b) => ({
        ...b,
        latency: [[0.03, 0.87], [0.06, 0.08], [0.12, 0.015], [0.18, 0.005], [0.45, 0.03]],
      })),
      make('slow-burn', 'slow burn', 'slow burn: 0.4% of queries fail for 36 h (4× the budget rate)', 'ticket', HISTORY + phase, 36 * 60, (_t, b) => ({ ...b, errorRatio: 0.004 })),
      make('traffic-surge', 'traffic surge', 'traffic surge: 10× the queries for 2 h, the usual 0.05% failing', 'none', at, 120, (_t, b) => ({ ...b, requests: b.requests * 10 })),
      make('blip', '1-minute blip', 'a 1-minute blip: half the queries fail for 1 min (a deploy rolled back), 1.2% of the month\'s budget', 'none', at, 1, (_t, b) => ({ ...b, errorRatio: 0.5 })),
      make('latency-spike', '2-minute latency spike', 'a 2-minute latency spike: 10% of queries take 600 ms (a GC storm)', 'none', at, 2, (_t, b) => ({
        ...b,
        latency: [[0.03, 0.8], [0.06, 0.08], [0.12, 0.015], [0.18, 0.005], [0.6, 0.1]],
      })),
      make('quiet', 'normal day', 'a normal day', 'none', at, 1440, (_t, b) => b),
    );
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Judging a policy

export interface Verdict {
  scenario: Scenario;
  /** First minute a page / a ticket fired, relative to the incident's start (undefined: never, after the history). */
  pageAt?: number;
  ticketAt?: number;
  /** Which alerts paged. */
  paged: string[];
  /** A page or ticket was due and none came (a ticket is enough where a ticket is expected). */
  missed: boolean;
  /** A page where none (or only a ticket) was due. */
  falsePage: boolean;
  /** Minutes a page kept firing after the incident's last minute (0: it stopped with it). */
  pageAfterEnd: number;
}

export function judge(policy: readonly AlertSpec[], slo: Slo, scenario: Scenario): Verdict {
  const s = scenario.series;
  const pages = new Array<boolean>(s.minutes).fill(false);
  const tickets = new Array<boolean>(s.minutes).fill(false);
  const paged = new Set<string>();
  for (const spec of policy) {
    const f = firing(spec, slo, s, HISTORY);
    for (let t = HISTORY; t < s.minutes; t++) {
      if (!f[t]) continue;
      if (spec.severity === 'page') {
        pages[t] = true;
        paged.add(spec.name);
      } else tickets[t] = true;
    }
  }
  const first = (a: boolean[]) => {
    const i = a.indexOf(true, HISTORY);
    return i < 0 ? undefined : i - scenario.start;
  };
  let lastPage = -1;
  for (let t = s.minutes - 1; t >= HISTORY; t--) if (pages[t]) {
    lastPage = t;
    break;
  }
  const pageAt = first(pages);
  const ticketAt = first(tickets);
  const missed = scenario.expect === 'page' ? pageAt === undefined : scenario.expect === 'ticket' ? pageAt === undefined && ticketAt === undefined : false;
  return {
    scenario,
    pageAt,
    ticketAt,
    paged: [...paged],
    missed,
    falsePage: scenario.expect !== 'page' && pageAt !== undefined,
    pageAfterEnd: lastPage < 0 ? 0 : Math.max(0, lastPage - scenario.end),
  };
}

export interface Scorecard {
  verdicts: Verdict[];
  missed: number;
  falsePages: number;
  /** missed + false pages: the headline. */
  mistakes: number;
  /** Mean minutes from an incident's start to its page (incidents that must page and did). */
  meanDetectionMin: number;
  /** The longest a page kept firing after its incident ended, minutes. */
  worstPageAfterEnd: number;
}

export function score(policy: readonly AlertSpec[], slo: Slo, scenarios: readonly Scenario[]): Scorecard {
  for (const spec of policy) {
    const p = specProblem(spec);
    if (p) throw new Error(p);
  }
  const verdicts = scenarios.map((sc) => judge(policy, slo, sc));
  const missed = verdicts.filter((v) => v.missed).length;
  const falsePages = verdicts.filter((v) => v.falsePage).length;
  const detections = verdicts.filter((v) => v.scenario.expect === 'page' && v.pageAt !== undefined).map((v) => v.pageAt!);
  return {
    verdicts,
    missed,
    falsePages,
    mistakes: missed + falsePages,
    meanDetectionMin: detections.length ? detections.reduce((a, b) => a + b, 0) / detections.length : NaN,
    worstPageAfterEnd: Math.max(0, ...verdicts.filter((v) => v.scenario.expect === 'page').map((v) => v.pageAfterEnd)),
  };
}
