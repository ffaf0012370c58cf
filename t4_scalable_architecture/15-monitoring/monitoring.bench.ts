/**
 * Benchmark for 15-monitoring: alert quality, replayed. The incident set (alerting.ts `incidentSet`: 4 days of
 * per-minute series for the gateway's queries, 50 queries/s ± 50% over the day, 0.05% failing, p99 ≈ 130 ms) holds
 * four incidents that must page (a 15-minute full outage, 5% failing for 1 h, 2% failing for 3 h, 3% of queries at
 * 450 ms for 2 h), a slow burn that must open a ticket (0.4% failing for 36 h) and four stretches that must stay quiet
 * (10× traffic, a 1-minute blip, a 2-minute latency spike, a normal day). Each variant's rules are evaluated over it
 * minute by minute as Prometheus would (rates over windows, histogram_quantile in the services' buckets, `for`).
 *
 * Headline: alert mistakes = incidents missed + false pages (a page where a ticket or nothing was due). Beside it:
 * missed, false pages, the mean minutes from an incident's start to its page (detection delay), and the longest a
 * page kept firing after its incident ended. The full run repeats every incident at 4 times of day (00, 06, 12,
 * 18 h: peak and trough traffic). The tinybench table is one replay of the full-outage scenario: what evaluating the
 * rules costs, nothing the lesson is about.
 *
 * Run: npm run t4 -- --only 15-monitoring [--quick] [--impl exercise]
 */
import { defineLesson, EXERCISE, type Metric } from '../../shared/lab/lesson.ts';
import { incidentSet, judge, score, SLO, type AlertSpec, type Scenario, type Scorecard } from './alerting.ts';
import * as after from './after.ts';
import * as before from './before.ts';

type Mod = typeof after;

interface Size {
  /** Times of day the incidents start at, minutes after midnight. */
  phases: number[];
}

interface Input {
  set: Scenario[];
  rules: Record<string, AlertSpec[]>;
}

const HEADLINE = 'alert mistakes on the incident set';

export default defineLesson<Size, Input>({
  id: 't4/15-monitoring',
  title: 'Monitoring and alerting: mean-latency and error-count alerts vs p99 and multiwindow error-budget burn rates (missed incidents, false pages)',
  workload:
    'a synthetic incident set (per-minute series of the gateway\'s queries: 4 incidents that must page, a slow burn that must open a ticket, 4 stretches that must stay quiet) ' +
    'replayed through each variant\'s alert rules as Prometheus evaluates them; before: mean latency > 200 ms and > 50 errors in 5 min; after: p99 > 200 ms for 10 min and ' +
    'multiwindow multi-burn-rate alerts for the 99.9% SLO. Headline: missed incidents + false pages. The timed call is one replay of the outage scenario',
  sizes: { quick: { phases: [0] }, full: { phases: [0, 360, 720, 1080] } },
  setup: (size, ctx) => {
    ctx.log(`building the incident set (${size.phases.length} time(s) of day)…`);
    const set = incidentSet({ phases: size.phases });
    const rules: Record<string, AlertSpec[]> = { before: before.alertRules(SLO), after: after.alertRules(SLO) };
    const ex = ctx.exercise as Mod | undefined;
    if (ex) rules[EXERCISE] = ex.alertRules(SLO);
    return { set, rules };
  },
  baseline: 'before',
  headline: { name: HEADLINE, unit: 'incidents', better: 'lower', metric: HEADLINE },
  variants: {
    before: (input) => judge(input.rules.before, SLO, input.set[0]),
    after: (input) => judge(input.rules.after, SLO, input.set[0]),
  },
  exercise: (input) => judge(input.rules[EXERCISE], SLO, input.set[0]),
  options: { iterations: 3, time: 20, warmupTime: 0, rounds: 1 },
  extras: (input, ctx) => {
    const metrics: Metric[] = [];
    for (const [variant, rules] of Object.entries(input.rules)) {
      ctx.log(`replaying ${input.set.length} scenarios through ${variant}'s ${rules.length} rule(s)…`);
      let card: Scorecard;
      try {
        card = score(rules, SLO, input.set);
      } catch (err) {
        if (variant !== EXERCISE) throw err;
        ctx.log(`exercise: ${(err as Error).message}`);
        continue;
      }
      const names = (f: (v: Scorecard['verdicts'][number]) => boolean) => card.verdicts.filter(f).map((v) => v.scenario.id).join(', ') || 'none';
      const v = { variant };
      metrics.push(
        { name: HEADLINE, value: card.mistakes, unit: 'incidents', ...v, note: `of ${input.set.length} scenarios; missed: ${names((x) => x.missed)}; false pages: ${names((x) => x.falsePage)}` },
        { name: 'incidents missed', value: card.missed, unit: 'incidents', ...v, note: `${input.set.filter((s) => s.expect !== 'none').length} needed a page or a ticket` },
        { name: 'false pages', value: card.falsePages, unit: 'pages', ...v, note: `${input.set.filter((s) => s.expect !== 'page').length} scenarios needed no page` },
        { name: 'mean detection delay (incidents that paged)', value: card.meanDetectionMin, unit: 'min', ...v, note: 'from the incident\'s first minute to the first page' },
        { name: 'longest page after its incident ended', value: card.worstPageAfterEnd, unit: 'min', ...v },
      );
    }
    return { metrics };
  },
});
