/**
 * deploy/prometheus and deploy/grafana (t4 lesson 15):
 * - `promtool check rules` and `promtool test rules` (every alert fires when it should and stays quiet when it should
 *   not, tests/*.test.yml), `promtool check config` on prometheus.yml. Skipped without promtool, with how to get it.
 * - every metric name the rules and the dashboard read is exported by a service (the registries of
 *   service-metrics.ts and metrics.ts) or recorded by a rule: a misspelt name fails here, not silently in production.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { REPO_ROOT } from '../util/paths.ts';
import { createMetrics } from './metrics.ts';
import { metricNamesIn, unknownMetrics } from './promql-names.ts';
import { exportedMetricNames, registryMetricNames, type ServiceKind } from './service-metrics.ts';

const run = promisify(execFile);
const PROM = path.join(REPO_ROOT, 'deploy/prometheus');
const PROMTOOL = process.env.PROMTOOL ?? '/usr/bin/promtool';
const HAS_PROMTOOL = existsSync(PROMTOOL);
if (!HAS_PROMTOOL) console.warn(`promtool not found at ${PROMTOOL}: apt-get install prometheus (or set PROMTOOL) to run the rule tests`);

interface Rule {
  record?: string;
  alert?: string;
  expr: string;
}
const rulesOf = (file: string): Rule[] =>
  (YAML.parse(readFileSync(path.join(PROM, 'rules', file), 'utf8')) as { groups: Array<{ rules: Rule[] }> }).groups.flatMap((g) => g.rules);

describe.skipIf(!HAS_PROMTOOL)('promtool (deploy/prometheus)', () => {
  it('checks the rule files', async () => {
    const { stdout } = await run(PROMTOOL, ['check', 'rules', 'rules/recording.yml', 'rules/alerts.yml'], { cwd: PROM });
    expect(stdout).toMatch(/SUCCESS/);
  });

  it('passes every alert unit test (fires when it should, quiet when it should not)', async () => {
    const files = readdirSync(path.join(PROM, 'tests')).filter((f) => f.endsWith('.test.yml'));
    // one promtool per file, at once: the SLO files take a few seconds each
    const results = await Promise.all(
      files.map((f) => run(PROMTOOL, ['test', 'rules', `tests/${f}`], { cwd: PROM }).then(
        () => ({ f, ok: true, out: '' }),
        (err: { stdout?: string; stderr?: string }) => ({ f, ok: false, out: `${err.stdout ?? ''}${err.stderr ?? ''}` }),
      )),
    );
    for (const r of results) expect(r.ok, `promtool test rules tests/${r.f} failed:\n${r.out}`).toBe(true);
  }, 60_000);

  it('every alert of alerts.yml has a unit test that expects it to fire', () => {
    const alerts = rulesOf('alerts.yml').map((r) => r.alert).filter(Boolean) as string[];
    const tested = new Set<string>();
    for (const f of readdirSync(path.join(PROM, 'tests')).filter((x) => x.endsWith('.test.yml'))) {
      const doc = YAML.parse(readFileSync(path.join(PROM, 'tests', f), 'utf8')) as { tests: Array<{ alert_rule_test?: Array<{ alertname: string; exp_alerts?: unknown[] }> }> };
      for (const t of doc.tests) for (const a of t.alert_rule_test ?? []) if ((a.exp_alerts ?? []).length > 0) tested.add(a.alertname);
    }
    expect(alerts.filter((a) => !tested.has(a)), 'alerts without a test that shows them firing').toEqual([]);
  });

  it('checks prometheus.yml (credentials file and file_sd paths pointed at a temporary directory)', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'rag-prom-'));
    try {
      mkdirSync(path.join(dir, 'rules'));
      const sd = path.join(dir, 'sd');
      mkdirSync(sd);
      writeFileSync(path.join(sd, 'token'), 'secret', { mode: 0o600 });
      for (const f of ['recording.yml', 'alerts.yml']) writeFileSync(path.join(dir, 'rules', f), readFileSync(path.join(PROM, 'rules', f)));
      writeFileSync(path.join(dir, 'prometheus.yml'), readFileSync(path.join(PROM, 'prometheus.yml'), 'utf8').replaceAll('../../.cache/prom-sd', sd));
      const { stdout } = await run(PROMTOOL, ['check', 'config', 'prometheus.yml'], { cwd: dir });
      expect(stdout).toMatch(/SUCCESS/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('metric names in the rules and the dashboard', () => {
  async function exported(): Promise<Set<string>> {
    const all = new Set<string>(['up', 'scrape_duration_seconds', 'scrape_samples_scraped']); // Prometheus' own, per target
    for (const s of ['gateway', 'shard', 'embedder', 'ingest'] as ServiceKind[]) for (const n of await exportedMetricNames(s)) all.add(n);
    for (const n of await registryMetricNames(createMetrics().registry)) all.add(n); // the monolith (caches)
    return all;
  }
  const recording = rulesOf('recording.yml');
  const alerts = rulesOf('alerts.yml');
  const recorded = new Set(recording.map((r) => r.record!).filter(Boolean));
  const dashboardDir = path.join(REPO_ROOT, 'deploy/grafana/dashboards');
  const panelExprs = readdirSync(dashboardDir)
    .filter((f) => f.endsWith('.json'))
    .flatMap((f) => {
      const d = JSON.parse(readFileSync(path.join(dashboardDir, f), 'utf8')) as { panels: Array<{ title: string; targets?: Array<{ expr: string }> }> };
      return d.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ where: `${f} "${p.title}"`, expr: t.expr })));
    });

  it('finds metric names, not functions, labels, keywords or numbers', () => {
    expect(
      metricNamesIn('histogram_quantile(0.99, sum by (service, le) (rate(foo_bucket{route!~"/healthz|x"}[5m]))) > 0.2 and on (service) bar:rate5m > 1e3 or absent(up{job="g"})').sort(),
    ).toEqual(['bar:rate5m', 'foo_bucket', 'up']);
  });

  it('every name the rules read is exported by a service or recorded by a rule', async () => {
    const known = await exported();
    const exprs = [...recording, ...alerts].map((r) => ({ where: `${r.record ?? r.alert}`, expr: r.expr }));
    expect(unknownMetrics(exprs, known, recorded)).toEqual([]);
  });

  it('every name the dashboard reads is exported by a service or recorded by a rule', async () => {
    expect(panelExprs.length).toBeGreaterThan(10);
    expect(unknownMetrics(panelExprs, await exported(), recorded)).toEqual([]);
  });

  it('a misspelt name is caught', async () => {
    const bad = [{ where: 'RagLatencyP99High', expr: 'histogram_quantile(0.99, sum by (le) (rate(rag_http_request_duraton_seconds_bucket[5m]))) > 0.2' }];
    expect(unknownMetrics(bad, await exported(), recorded)).toEqual(['RagLatencyP99High: rag_http_request_duraton_seconds_bucket']);
  });

  it('the dashboard has the panels the lesson promises', () => {
    const titles = panelExprs.map((p) => p.where.toLowerCase()).join(' ');
    for (const want of ['queries per second', 'latency percentiles', 'errors', 'cache hit ratio', 'circuit breakers', 'queue depth', 'memory']) {
      expect(titles, `no dashboard panel about ${want}`).toContain(want);
    }
  });
});
