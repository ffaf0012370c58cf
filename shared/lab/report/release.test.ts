/**
 * The capstone's release report (release.json, shared/deploy/release-report.ts) in the lab report: the section in
 * REPORT.md and index.html with the right figures, its chart, nothing without release.json, a warning (and the rest
 * of the report) with a malformed one. Made-up records, as in shared/deploy/soak.test.ts: no Docker, no soak.
 */
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { madeUpReleaseInput } from '../../deploy/release-report.fixture.ts';
import {
  buildRelease,
  releaseAlerts,
  releaseFaultRows,
  releaseTargetRows,
  releaseWindowRows,
  renderRelease,
  validateRelease,
  type ReleaseInput,
  type ReleaseReport,
} from '../../deploy/release-report.ts';
import { REPO_ROOT } from '../../util/paths.ts';
import { writeResults } from '../results.ts';
import { fixtureResults } from '../test-fixtures.ts';
import { buildReport } from './build.ts';
import { releaseSpec } from './charts.ts';
import { EMPTY_CONTEXT } from './model.ts';
import { readRelease } from './release.ts';

/** A 60 s quick soak (release-report.fixture.ts), its fault's `how` in backticks (code in both renderings). */
function madeUpRelease(over: Partial<ReleaseInput> = {}): ReleaseReport {
  const input = madeUpReleaseInput();
  return buildRelease({ ...input, faults: input.faults.map((f) => ({ ...f, how: '`kill -9`' })), ...over });
}

const section = (md: string) => md.slice(md.indexOf('## Release (capstone soak)'), md.indexOf('## Method'));

describe('the release section of the lab report', () => {
  it('shows targets, windows, faults, writes and alerts in REPORT.md with the run\'s figures', async () => {
    const { markdown } = await buildReport(fixtureResults(), undefined, { ...EMPTY_CONTEXT, release: madeUpRelease() });
    const s = section(markdown);
    expect(s).toMatch(/^## Release \(capstone soak\)/);
    expect(s).toContain('`node --import tsx shared/deploy/soak.ts --quick`, started 2026-12-01T09:50:00.000Z, 2 cores.');
    // targets: availability missed (99.8%), p99 met (20-30 ms), QPS missed, no acknowledged write lost
    expect(s).toMatch(/\| availability ≥ 99\.900% \| 99\.800% \(998 of 1000; 2 failed, 0 wrong\) \| \*\*no\*\* \|/);
    expect(s).toMatch(/\| p99 < 200 ms \| p99 20 ms, p50 20 ms \(available answers\) \| yes \|/);
    expect(s).toMatch(/\| > 1000 QPS \| .*70% of the 24 QPS this machine's stack reached.* \| \*\*no\*\* \|/);
    expect(s).toMatch(/\| acknowledged writes lost: 0 \| 0 of 100 acknowledged \| yes \|/);
    // four 15 s windows and the whole run
    expect(s).toContain('**Per 15 s window**');
    expect(s).toMatch(/\| 0–15 \| 16\.5 \| 16\.5 \| 100\.00% \| 0 \| 0 \| 20 ms \| 20 ms \|/);
    expect(s).toMatch(/\| 15–30 \| 17 \| 17 \| 100\.00% \| 0 \| 0 \| 20 ms \| 30 ms \|/);
    expect(s).toMatch(/\| 45–60 \| 16\.6 \| 16\.5 \| 99\.197% \| 2 \| 0 \| 20 ms \| 20 ms \|/);
    expect(s).toMatch(/\| \*\*all\*\* \| 16\.7 \| 16\.6 \| 99\.800% \| 2 \| 0 \| 20 ms \| 20 ms \|/);
    expect(s).toMatch(/\| 18\.0 s \| kill shard-1 \(`kill -9`\) \| 5\.4 s \| 6\.0 s \| - \| 9\.0 s \| 0 \/ 8 \/ 200 \|/);
    expect(s).toMatch(/\*\*Writes\*\*: 101 writes .*\*\*acknowledged writes lost: 0\*\*.*\*\*jobs lost: 1\*\*/);
    expect(s).toMatch(/\| RagReplicaDown \| pending \| ticket \| job=shard \| 20–35 \|/);
    expect(s).toContain('- the load shares the cores');
  });

  it('shows the same in index.html, with a chart of p99 and availability per window, still self-contained', async () => {
    const { html } = await buildReport(fixtureResults(), undefined, { ...EMPTY_CONTEXT, release: madeUpRelease() });
    const s = html.slice(html.indexOf('<h2 id="release">'), html.indexOf('<h2 id="method">'));
    expect(s).toContain('<h2 id="release">Release (capstone soak)</h2>');
    expect(s).toMatch(/<tr class="failed"><td>availability ≥ 99\.900%<\/td><td>99\.800% \(998 of 1000; 2 failed, 0 wrong\)<\/td><td>no<\/td><\/tr>/);
    expect(s).toMatch(/<tr><td>p99 &lt; 200 ms<\/td><td>p99 20 ms, p50 20 ms \(available answers\)<\/td><td>yes<\/td><\/tr>/);
    expect(s).toContain('<td>all</td><td class="num">16.7</td><td class="num">16.6</td><td class="num">99.800%</td>');
    expect(s).toContain('<td>kill shard-1 (<code>kill -9</code>)</td>');
    expect(s).toContain('<strong>acknowledged writes lost: 0</strong>');
    expect(s).toContain('<td>RagReplicaDown</td>');
    expect(s.match(/<svg/g)?.length, 'the release chart').toBe(1);
    // the fixture's three charts and the release chart; nothing fetched
    expect(html.match(/<svg/g)?.length).toBe(4);
    expect(html).not.toMatch(/<script|<link|@import|url\(\s*['"]?https?:/i);
    expect(html).not.toMatch(/(src|href)=["']https?:/i);
    expect(html).toContain('and <code>release.json</code>');
  });

  it('is absent without a release.json: the report is as before', async () => {
    const { markdown, html } = await buildReport(fixtureResults());
    expect(markdown).not.toContain('Release (capstone soak)');
    expect(html).not.toContain('Release (capstone soak)');
    expect(html).not.toContain('release.json');
    expect(html.match(/<svg/g)?.length).toBe(3);
  });

  it('says there were no alerts, or why they were not read', async () => {
    const none = await buildReport(fixtureResults(), undefined, { ...EMPTY_CONTEXT, release: madeUpRelease({ alerts: [], writes: undefined, faults: [] }) });
    expect(section(none.markdown)).toContain('None pending or firing during the run.');
    expect(section(none.markdown)).toContain('**Writes**: No write load.');
    expect(section(none.markdown)).toContain('No fault injected.');
    const failed = await buildReport(fixtureResults(), undefined, { ...EMPTY_CONTEXT, release: madeUpRelease({ alerts: { error: 'connection refused' } }) });
    expect(section(failed.markdown)).toContain('Not read: connection refused');
    expect(failed.html).toContain('<p>Not read: connection refused</p>');
  });
});

describe('the release rows read as RELEASE.md', () => {
  it('every target, window, fault and alert row is one of renderRelease\'s', () => {
    const r = madeUpRelease();
    const md = renderRelease(r);
    for (const [t, m, met] of releaseTargetRows(r)) expect(md).toContain(`| ${t} | ${m} | ${met === 'yes' ? 'yes' : '**no**'} |`);
    const windows = releaseWindowRows(r);
    expect(windows).toHaveLength(5);
    for (const [i, row] of windows.entries()) expect(md).toContain(`| ${i === windows.length - 1 ? '**all**' : row[0]} | ${row.slice(1).join(' | ')} |`);
    for (const row of releaseFaultRows(r)) expect(md).toContain(`| ${row.join(' | ')} |`);
    const alerts = releaseAlerts(r);
    expect('rows' in alerts && alerts.rows.length).toBe(1);
    if ('rows' in alerts) for (const row of alerts.rows) expect(md).toContain(`| ${row.join(' | ')} |`);
  });
});

describe('releaseSpec', () => {
  it('plots p99 and availability per window against their targets, with the faults', () => {
    const spec = releaseSpec(madeUpRelease()) as unknown as { data: { values: { mid: number; p99: number | null; availability: number }[] }; vconcat: { layer: { data?: { values: unknown[] } }[] }[] };
    expect(spec.data.values.map((v) => v.mid)).toEqual([7.5, 22.5, 37.5, 52.5]);
    expect(spec.data.values[0]).toMatchObject({ p99: 20, availability: 100 });
    expect(spec.vconcat).toHaveLength(2);
    const layerData = spec.vconcat.flatMap((c) => c.layer.map((l) => l.data?.values)).filter(Boolean);
    expect(layerData).toContainEqual([{ target: 200 }]);
    expect(layerData).toContainEqual([{ target: 99.9 }]);
    expect(layerData).toContainEqual([{ at: 18, name: 'kill shard-1' }]);
    expect(releaseSpec({ ...madeUpRelease(), windows: [] })).toBeUndefined();
  });
});

describe('readRelease and validateRelease', () => {
  const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'lab-release-'));

  it('reads nothing from a run folder without release.json, the report from one that holds it', () => {
    const dir = tmp();
    try {
      expect(readRelease(dir)).toEqual({});
      const r = madeUpRelease();
      fs.writeFileSync(path.join(dir, 'release.json'), JSON.stringify(r, null, 2));
      expect(readRelease(dir)).toEqual({ release: JSON.parse(JSON.stringify(r)) });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('warns, naming the file and the bad field, for a malformed one', () => {
    const dir = tmp();
    try {
      const file = path.join(dir, 'release.json');
      fs.writeFileSync(file, '{"schema": "rag-perf-lab/release@1", ');
      expect(readRelease(dir).warning).toMatch(/release\.json is not valid JSON .*built without its release section/);
      const r = JSON.parse(JSON.stringify(madeUpRelease()));
      r.verdicts[1].met = 'yes';
      fs.writeFileSync(file, JSON.stringify(r));
      const { release, warning } = readRelease(dir);
      expect(release).toBeUndefined();
      expect(warning).toContain(file);
      expect(warning).toContain('release.verdicts[1].met: expected a boolean, got "yes"');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('validateRelease accepts what buildRelease writes and names what is missing', () => {
    const ok = JSON.parse(JSON.stringify(madeUpRelease()));
    expect(validateRelease(ok)).toBe(ok);
    expect(validateRelease(JSON.parse(JSON.stringify(madeUpRelease({ alerts: { error: 'refused' }, writes: undefined }))))).toBeTruthy();
    expect(() => validateRelease([])).toThrow('release: expected an object, got []');
    expect(() => validateRelease({ ...ok, schema: 'rag-perf-lab/results@2' })).toThrow(/release\.schema: expected "rag-perf-lab\/release@1"/);
    const { windows: _w, ...noWindows } = ok;
    expect(() => validateRelease(noWindows)).toThrow('release.windows: expected an array, got nothing');
    expect(() => validateRelease({ ...ok, overall: { ...ok.overall, p99Ms: '30' } })).toThrow('release.overall.p99Ms: expected a number or null, got "30"');
    expect(() => validateRelease({ ...ok, alerts: [{ alertname: 'X', state: 'firing', labels: '', intervals: [{ fromS: 1 }] }] })).toThrow('release.alerts[0].intervals[0].toS');
  });
});

describe('npm run report with a release.json (the CLI, on a scratch reports folder)', () => {
  const report = (reports: string, run: string) =>
    spawnSync(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'shared/lab/cli/report.ts'), '--run', run], {
      cwd: REPO_ROOT,
      env: { ...process.env, LAB_REPORTS_DIR: reports },
      encoding: 'utf8',
    });

  it('adds the section; warns on stderr and still writes the report for a malformed one', () => {
    const reports = fs.mkdtempSync(path.join(os.tmpdir(), 'lab-reports-'));
    try {
      const run = '2026-12-01T10-00-00Z-test';
      writeResults(reports, fixtureResults(run));
      const release = path.join(reports, run, 'release.json');
      fs.writeFileSync(release, JSON.stringify(madeUpRelease(), null, 2));
      const ok = report(reports, run);
      expect(ok.status, ok.stderr).toBe(0);
      expect(ok.stderr).not.toMatch(/warning/);
      expect(fs.readFileSync(path.join(reports, run, 'REPORT.md'), 'utf8')).toContain('## Release (capstone soak)');
      expect(fs.readFileSync(path.join(reports, run, 'index.html'), 'utf8')).toContain('<h2 id="release">');

      fs.writeFileSync(release, '{ not json');
      const bad = report(reports, run);
      expect(bad.status, bad.stderr).toBe(0);
      expect(bad.stderr).toMatch(/^warning: .*release\.json is not valid JSON/m);
      const md = fs.readFileSync(path.join(reports, run, 'REPORT.md'), 'utf8');
      expect(md).not.toContain('Release (capstone soak)');
      expect(md).toContain('## Method');
    } finally {
      fs.rmSync(reports, { recursive: true, force: true });
    }
  }, 60_000);
});
