/**
 * Checkpoint for 15-monitoring. `npm run checkpoint -- 15-monitoring` runs it against exercise.ts; plain
 * `npx vitest run` checks before.ts (only "the rules render" applies: the rest is what it gets wrong) and after.ts.
 *
 * The incident set (alerting.ts `incidentSet`) is replayed minute by minute through the implementation's rules, as
 * Prometheus evaluates them: rates over windows, histogram_quantile within the services' buckets, `for`. What is
 * checked is which incidents paged, opened a ticket or stayed quiet, and for how long a page outlived its incident.
 * deploy/prometheus/rules/alerts.yml must say what after.ts says (the last test).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { implementations } from '../../shared/lab/checkpoint.ts';
import { incidentSet, renderAlert, score, SLO, specProblem, type Scorecard, type Verdict } from './alerting.ts';
import * as after from './after.ts';

type Mod = typeof import('./after.ts');

const SET = incidentSet();
const HERE = path.dirname(fileURLToPath(import.meta.url));

const fmt = (v: Verdict) => `${v.scenario.name} (${v.scenario.title})`;

describe.each(await implementations<Mod>(import.meta.url))('%s', (name, impl) => {
  let card: Scorecard | undefined;
  const scorecard = () => (card ??= score(impl.alertRules(SLO), SLO, SET));
  const verdict = (id: string) => scorecard().verdicts.find((v) => v.scenario.id === id)!;

  it('returns alerts that render to Prometheus rules (known kinds, recorded windows, valid durations)', () => {
    const specs = impl.alertRules(SLO);
    expect(specs.length, 'no alert at all').toBeGreaterThan(0);
    for (const s of specs) {
      expect(specProblem(s) ?? '', `alert ${s.name}`).toBe('');
      expect(renderAlert(s, SLO).expr).toMatch(/rag_|slo:/);
    }
  });

  describe.skipIf(name === 'before')('on the incident set', () => {
    it('pages for every incident that burns the error budget fast (full outage, 5% for 1 h, 2% for 3 h)', () => {
      const missed = ['outage', 'partial-outage', 'elevated-errors'].map(verdict).filter((v) => v.pageAt === undefined);
      expect(missed.length, missed.map((v) => `missed the ${v.scenario.name} incident: no page`).join('; ')).toBe(0);
    });

    it('pages when the p99 passes 200 ms even though the mean stays low', () => {
      const v = verdict('tail-latency');
      expect(v.pageAt !== undefined, 'missed the tail-latency incident: 3% of queries at 450 ms for 2 h (p99 over 300 ms, mean 47 ms) and no page').toBe(true);
    });

    it('opens a ticket, not a page, for a slow burn (0.4% failing for 36 h: the budget gone in a week)', () => {
      const v = verdict('slow-burn');
      expect(v.pageAt !== undefined || v.ticketAt !== undefined, 'missed the slow burn: no ticket in 36 h at 4× the budget rate').toBe(true);
      expect(v.pageAt, `paged on the slow burn (${v.paged.join(', ')}, ${v.pageAt} min in): it deserves a ticket, not a night`).toBeUndefined();
    });

    it.each([
      ['traffic-surge', 'paged on the traffic surge: 10× the queries at the usual 0.05% failing is not an incident'],
      ['blip', 'paged on the 1-minute blip: half the queries failing for 1 minute spends 1.2% of the month\'s budget'],
      ['latency-spike', 'paged on the 2-minute latency spike: it was over before anyone could look'],
      ['quiet', 'paged on a normal day'],
    ])('stays quiet: %s', (id, message) => {
      const v = verdict(id);
      expect(v.falsePage, `${message} (${v.paged.join(', ')} fired ${v.pageAt} min after it began)`).toBe(false);
    });

    it('stops paging within 35 minutes of the end of each incident', () => {
      const late = scorecard().verdicts.filter((v) => v.scenario.expect === 'page' && v.pageAfterEnd > 35);
      expect(late.length, late.map((v) => `still paging ${v.pageAfterEnd} min after the ${fmt(v)} ended`).join('; ')).toBe(0);
    });
  });
});

describe('deploy/prometheus/rules/alerts.yml', () => {
  it('says what after.ts says: the burn-rate alerts and the p99 alert, with the same windows, factors and severities', () => {
    const doc = YAML.parse(readFileSync(path.join(HERE, '../../deploy/prometheus/rules/alerts.yml'), 'utf8')) as {
      groups: Array<{ rules: Array<{ alert?: string; expr: string; for?: string; labels?: { severity?: string } }> }>;
    };
    const rules = doc.groups.flatMap((g) => g.rules);
    const norm = (s: string) => s.replace(/\s+/g, ' ').trim();
    for (const spec of after.alertRules(SLO)) {
      const rule = rules.find((r) => r.alert === spec.name);
      expect(rule, `alerts.yml has no alert ${spec.name}`).toBeDefined();
      expect(rule!.labels?.severity).toBe(spec.severity);
      expect(rule!.for).toBe(spec.for);
      if (spec.kind === 'burn-rate') expect(norm(rule!.expr)).toBe(norm(renderAlert(spec, SLO).expr));
    }
  });
});
