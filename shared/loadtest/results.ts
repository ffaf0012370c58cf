/**
 * Load-test results in the lab's results file (reports/<run-id>/results.json), as lesson entries the report already
 * knows how to table and chart: one lesson per load test, one variant per server, the variant's latency summary taken
 * from the exact per-response latencies, and the load-test figures (QPS, p90, non-2xx, errors, freshness) as metrics.
 * The raw numbers also go to reports/<run-id>/loadtest.json.
 */
import fs from 'node:fs';
import path from 'node:path';
import { reportsDir } from '../lab/results.ts';
import { collectEnv, makeRunId } from '../lab/env.ts';
import { computeHeadline } from '../lab/headline.ts';
import type { Metric } from '../lab/lesson.ts';
import { saveResults, RESULTS_SCHEMA, type LessonResult, type VariantResult } from '../lab/results.ts';
import { speedup, summarize } from '../util/stats.ts';
import { REPO_ROOT } from '../util/paths.ts';
import type { LoadResult } from './driver.ts';

export interface NamedLoad {
  /** Server / variant name, e.g. 'rag-engine (2 workers)'. */
  name: string;
  load?: LoadResult;
  /** Why it has no result (server failed to start, …). */
  error?: string;
}

export function loadMetrics(name: string, r: LoadResult): Metric[] {
  const m: Metric[] = [
    { variant: name, name: 'QPS', value: r.qps, unit: 'req/s', note: `${r.connections} connections, ${r.duration} s` },
    { variant: name, name: 'p50', value: r.latency.p50, unit: 'ms' },
    { variant: name, name: 'p90', value: r.latency.p90, unit: 'ms' },
    { variant: name, name: 'p99', value: r.latency.p99, unit: 'ms' },
    { variant: name, name: 'max', value: r.latency.max, unit: 'ms' },
    { variant: name, name: 'non-2xx', value: r.non2xx, unit: 'responses' },
    { variant: name, name: 'errors', value: r.errors, unit: 'connection errors', note: `${r.timeouts} timeouts` },
  ];
  if (r.freshness) {
    m.push(
      { variant: name, name: 'acknowledged writes checked', value: r.freshness.checked, unit: 'writes' },
      { variant: name, name: 'writes not visible within 1 s', value: r.freshness.failures, unit: 'writes' },
      { variant: name, name: 'worst ack → visible', value: r.freshness.maxVisibleMs, unit: 'ms', note: `${r.freshness.immediate} visible at the first check` },
    );
  }
  return m;
}

export function toLesson(opts: {
  id: string;
  title: string;
  workload: string;
  baseline: string;
  runs: NamedLoad[];
  extraMetrics?: Metric[];
  startedAt: string;
  durationMs: number;
}): LessonResult {
  const variants: VariantResult[] = opts.runs.map((r) => {
    if (!r.load || !r.load.samples || r.load.samples.length === 0) {
      return { name: r.name, status: 'failed', error: r.error ?? 'no successful responses' };
    }
    return { name: r.name, status: 'ok', stats: summarize(r.load.samples) };
  });
  const base = variants.find((v) => v.name === opts.baseline && v.stats);
  if (base?.stats) for (const v of variants) if (v.stats) v.ratio = speedup(base.stats, v.stats);
  const first = opts.runs.find((r) => r.load)?.load;
  const metrics = [...opts.runs.flatMap((r) => (r.load ? loadMetrics(r.name, r.load) : [])), ...(opts.extraMetrics ?? [])];
  // One trial per server: the QPS has no spread of its own, so the report shows it without an error.
  const { result: headline } = computeHeadline(
    { headline: { name: 'queries per second', unit: 'req/s', better: 'higher', metric: 'QPS' }, baseline: opts.baseline, featured: opts.runs.map((r) => r.name).filter((n) => n !== opts.baseline) },
    variants,
    metrics,
  );
  return {
    id: opts.id,
    chapter: 't4',
    title: opts.title,
    workload: opts.workload,
    status: variants.some((v) => v.status === 'ok') ? 'ok' : 'failed',
    mode: 'full',
    size: { connections: first?.connections, duration: first?.duration },
    baseline: opts.baseline,
    options: { rounds: 1, time: (first?.duration ?? 0) * 1000, warmupTime: 0, iterations: 0, memory: false },
    variants,
    curves: [],
    metrics,
    headline,
    startedAt: opts.startedAt,
    durationMs: opts.durationMs,
  };
}

/** Merges the lessons into the lab run `runId` (a new run when absent) and writes loadtest.json beside it. */
export function saveLoadtest(lessons: LessonResult[], raw: unknown, runId?: string): { runId: string; file: string; rawFile: string } {
  const date = new Date();
  const env = collectEnv(REPO_ROOT, 'full', date);
  const id = runId ?? makeRunId(date, env.commit, env.dirty);
  const { file } = saveResults(reportsDir(), { schema: RESULTS_SCHEMA, runId: id, env, lessons });
  const rawFile = path.join(path.dirname(file), 'loadtest.json');
  let existing: Record<string, unknown> = {};
  try {
    existing = JSON.parse(fs.readFileSync(rawFile, 'utf8'));
  } catch {
    existing = {};
  }
  const merged = { schema: 'rag-perf-lab/loadtest@1', ...existing, ...(raw as object) };
  fs.writeFileSync(rawFile, `${JSON.stringify(merged, (_k, v) => (v instanceof Float64Array ? undefined : v), 2)}\n`);
  return { runId: id, file, rawFile };
}
