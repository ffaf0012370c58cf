/**
 * Charts for the report: vega-lite specs compiled to vega and rendered to SVG at build time (no browser, no network).
 * Every chart is a function from results to a spec, so it can be tested without rendering.
 */
import * as vega from 'vega';
import * as vl from 'vega-lite';
import type { Curve } from '../lesson.ts';
import { describeChange } from '../headline.ts';
import type { LessonResult } from '../results.ts';
import { TARGETS, type ReleaseReport } from '../../deploy/release-report.ts';

type Spec = vl.TopLevelSpec;

const WIDTH = 560;
/** Log scales cannot show 0: clamp to one nanosecond. */
const FLOOR_MS = 1e-6;

const CONFIG = {
  font: 'system-ui, -apple-system, Segoe UI, Roboto, sans-serif',
  axis: { labelFontSize: 11, titleFontSize: 12, gridColor: '#e5e7eb', labelLimit: 360 },
  legend: { labelFontSize: 11, titleFontSize: 12, labelLimit: 0, orient: 'bottom', columns: 2 },
  view: { stroke: null },
} as const;

/**
 * Each lesson's featured variants (and the learner's exercise) against their own baselines on the lesson's headline,
 * as "times better" (> 1 is better whether the metric is a latency or a throughput), ±1 standard error bars, log x.
 * Grey where noise cannot tell the change from none, red where the metric got worse.
 */
export function headlineSpec(lessons: LessonResult[]): Spec | undefined {
  const rows = lessons.flatMap((l) => {
    const h = l.headline;
    if (!h || l.status === 'skipped') return [];
    return h.featured.flatMap((name) => {
      const r = h.rows.find((x) => x.variant === name);
      if (!r?.change || !(r.change.value > 0) || !Number.isFinite(r.change.value)) return [];
      const v = r.change.value;
      const e = r.change.error ?? 0;
      return [
        {
          row: `${l.id} · ${name}`,
          metric: h.name,
          ratio: v,
          lo: Math.max(v - e, v / 100),
          hi: v + e,
          verdict: r.verdict ?? 'better',
          label: describeChange(h.better, r),
        },
      ];
    });
  });
  if (rows.length === 0) return undefined;
  // Room on the right for the labels, and 1 (no change) always in view.
  const lo = Math.min(0.8, ...rows.map((r) => r.lo)) / 1.2;
  const hi = Math.max(1.25, ...rows.map((r) => r.hi)) * 4;
  const x = { type: 'log' as const, nice: false, domain: [lo, hi] };
  const color = {
    field: 'verdict',
    type: 'nominal' as const,
    scale: { domain: ['better', 'within noise', 'worse'], range: ['#1d4ed8', '#9ca3af', '#dc2626'] },
    legend: { title: null, orient: 'bottom' as const },
  };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    width: WIDTH,
    height: { step: 26 },
    config: CONFIG,
    data: { values: rows },
    layer: [
      {
        mark: { type: 'rule', color: '#9ca3af', strokeDash: [4, 3] },
        data: { values: [{ one: 1 }] },
        encoding: { x: { field: 'one', type: 'quantitative', scale: x } },
      },
      {
        mark: { type: 'rule', strokeWidth: 2 },
        encoding: {
          y: { field: 'row', type: 'nominal', title: null, sort: null },
          x: { field: 'lo', type: 'quantitative', scale: x, title: "times better on the lesson's own metric (log scale; > 1 is better)" },
          x2: { field: 'hi' },
          color,
        },
      },
      {
        mark: { type: 'point', filled: true, size: 70 },
        encoding: {
          y: { field: 'row', type: 'nominal', sort: null },
          x: { field: 'ratio', type: 'quantitative', scale: x },
          color,
          tooltip: [{ field: 'metric' }, { field: 'label' }],
        },
      },
      {
        mark: { type: 'text', align: 'left', dx: 8, dy: -8, fontSize: 11, color: '#374151' },
        encoding: {
          y: { field: 'row', type: 'nominal', sort: null },
          x: { field: 'ratio', type: 'quantitative', scale: x },
          text: { field: 'label' },
        },
      },
    ],
  } as Spec;
}

/** Latency distribution per variant of one lesson: min–max (thin), p50–p99 (thick), p50 (dot), mean (tick). */
export function latencySpec(lesson: LessonResult): Spec | undefined {
  const rows = lesson.variants
    .filter((v) => v.status === 'ok' && v.stats)
    .map((v) => {
      const s = v.stats!;
      const c = (x: number) => Math.max(x, FLOOR_MS);
      return { variant: v.name, min: c(s.min), p50: c(s.p50), mean: c(s.mean), p99: c(s.p99), max: c(s.max) };
    });
  if (rows.length === 0) return undefined;
  const x = { type: 'log' as const, nice: false };
  const y = { field: 'variant', type: 'nominal' as const, title: null, sort: null };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    width: WIDTH,
    height: { step: 28 },
    config: CONFIG,
    data: { values: rows },
    layer: [
      {
        mark: { type: 'rule', color: '#9ca3af' },
        encoding: { y, x: { field: 'min', type: 'quantitative', scale: x, title: 'latency per call (ms, log scale)' }, x2: { field: 'max' } },
      },
      {
        mark: { type: 'rule', strokeWidth: 6, color: '#93c5fd' },
        encoding: { y, x: { field: 'p50', type: 'quantitative', scale: x }, x2: { field: 'p99' } },
      },
      {
        mark: { type: 'point', filled: true, size: 60, color: '#1d4ed8' },
        encoding: { y, x: { field: 'p50', type: 'quantitative', scale: x } },
      },
      {
        mark: { type: 'tick', thickness: 2, size: 18, color: '#dc2626' },
        encoding: { y, x: { field: 'mean', type: 'quantitative', scale: x } },
      },
    ],
  } as Spec;
}

/** A curve a lesson declared: one coloured line per series, optional point labels. */
export function curveSpec(curve: Curve): Spec | undefined {
  const points = curve.points.filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y) && (!curve.xLog || p.x > 0));
  if (points.length === 0) return undefined;
  const x = {
    field: 'x',
    type: 'quantitative' as const,
    title: curve.xLabel,
    scale: curve.xLog ? { type: 'log' as const, nice: false } : { zero: false },
  };
  const y = { field: 'y', type: 'quantitative' as const, title: curve.yLabel, scale: { zero: false } };
  const color = { field: 'series', type: 'nominal' as const, title: null };
  const layers: unknown[] = [
    { mark: { type: 'line', strokeWidth: 2 }, encoding: { x, y, color, order: { field: 'x', type: 'quantitative' } } },
    { mark: { type: 'point', filled: true, size: 50 }, encoding: { x, y, color } },
  ];
  if (points.some((p) => p.label)) {
    layers.push({
      mark: { type: 'text', align: 'left', dx: 6, dy: -6, fontSize: 10, color: '#374151' },
      encoding: { x, y, text: { field: 'label' } },
    });
  }
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    width: WIDTH,
    height: 280,
    config: CONFIG,
    data: { values: points.map((p) => ({ ...p, label: p.label ?? '' })) },
    layer: layers,
  } as Spec;
}

/**
 * The capstone soak (release.json) window by window: p99 of the available answers (log scale) over availability,
 * each with its target as a dashed red line and the faults as grey dashed lines with their names.
 */
export function releaseSpec(r: ReleaseReport): Spec | undefined {
  const rows = r.windows.map((w) => ({ mid: (w.fromS + w.toS) / 2, p99: w.p99Ms !== null && w.p99Ms > 0 ? w.p99Ms : null, availability: w.availability * 100 }));
  if (rows.length === 0) return undefined;
  const x = { field: 'mid', type: 'quantitative' as const, title: 'seconds after the load started (middle of the window)', scale: { domain: [0, r.durationMs / 1000] } };
  const faults = r.faults.map((f) => ({ at: f.atMs / 1000, name: f.name }));
  const faultLayers = (withLabels: boolean) =>
    faults.length === 0
      ? []
      : [
          { data: { values: faults }, mark: { type: 'rule', color: '#9ca3af', strokeDash: [4, 3] }, encoding: { x: { field: 'at', type: 'quantitative' } } },
          ...(withLabels
            ? [{ data: { values: faults }, mark: { type: 'text', align: 'left', baseline: 'top', dx: 3, y: 2, fontSize: 10, color: '#6b7280' }, encoding: { x: { field: 'at', type: 'quantitative' }, text: { field: 'name' } } }]
            : []),
        ];
  const target = (value: number) => ({ data: { values: [{ target: value }] }, mark: { type: 'rule', color: '#dc2626', strokeDash: [6, 3] }, encoding: { y: { field: 'target', type: 'quantitative' } } });
  const lowest = Math.min(TARGETS.availability * 100, ...rows.map((w) => w.availability));
  const line = (field: string, title: string, scale: object) => [
    { mark: { type: 'line', strokeWidth: 2, color: '#1d4ed8' }, encoding: { x, y: { field, type: 'quantitative', title, scale } } },
    { mark: { type: 'point', filled: true, size: 40, color: '#1d4ed8' }, encoding: { x, y: { field, type: 'quantitative' } } },
  ];
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    config: CONFIG,
    data: { values: rows },
    vconcat: [
      { width: WIDTH, height: 140, layer: [...line('p99', 'p99 (ms, log scale)', { type: 'log', nice: false }), target(TARGETS.p99Ms), ...faultLayers(true)] },
      { width: WIDTH, height: 110, layer: [...line('availability', 'availability (%)', { zero: false, domain: [Math.max(0, Math.floor(lowest - 0.5)), 100] }), target(TARGETS.availability * 100), ...faultLayers(false)] },
    ],
  } as Spec;
}

/** Compile and render to an SVG string suitable for inlining in HTML (namespace attributes dropped: HTML adds them). */
export async function renderSvg(spec: Spec): Promise<string> {
  const compiled = vl.compile(spec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  try {
    const svg = await view.toSVG();
    return svg.replace(/\s+xmlns(:xlink)?="[^"]*"/g, '').replace(/\s+xlink:href=/g, ' href=');
  } finally {
    view.finalize();
  }
}
