/**
 * Benchmark for 04-gc-tuning: the engine's query load (hybrid queries with answers, 8 in flight, over n Brown
 * documents) in worker processes started with different GC flags. A worker with Node's defaults measures the load
 * first (live heap, KB allocated per query); each implementation's `chooseSettings` turns that into flags: before
 * (the "small memory" settings), after, yours with --impl exercise. The headline is the GC time share of a window
 * of queries (PerformanceObserver 'gc' pauses over the window's wall time), its p99 the second figure. Full mode adds
 * the semi-space sweep, the old-space sweep and the allocation-shape comparison the README's "how to choose" uses.
 * Run: npm run t2 -- --only 04-gc-tuning [--quick] [--impl exercise]
 */
import { defineLesson, EXERCISE, type CurvePoint, type Metric } from '../../shared/lab/lesson.ts';
import { measured } from '../../shared/lab/metric.ts';
import * as after from './after.ts';
import * as before from './before.ts';
import { MB, nodeFlags, profileOf, startWorker, type GcSettings, type LoadProfile, type RunningWorker, type WindowStats, type WorkerConfig } from './gc-kit.ts';

const HEADLINE = 'GC time share';
const P99 = 'query p99';
const DEFAULTS = 'node defaults';

interface Size {
  docs: number;
  warmup: number;
  /** Queries per measured window, and windows per variant. */
  window: number;
  trials: number;
  /** Full mode: the semi-space and old-space sweeps and the allocation shapes. */
  sweeps: boolean;
}

interface Input {
  size: Size;
  cfg: WorkerConfig;
  load: LoadProfile;
  workers: Map<string, RunningWorker>;
  settings: Map<string, GcSettings | undefined>;
  exerciseError?: string;
}

const describeSettings = (s: GcSettings | undefined) =>
  s ? `semi-space ${s.semiSpaceMB} MB, old space ${s.oldSpaceMB} MB` : 'no GC flags (semi-space grows to 16 MB, old space ~ half of RAM)';

async function batch(input: Input, variant: string): Promise<number> {
  const w = input.workers.get(variant);
  if (!w) throw new Error(input.exerciseError ?? `${variant}: no worker`);
  return w.run(10);
}

interface Trials {
  shares: number[];
  latencies: number[];
  windows: WindowStats[];
}

function summarise(variant: string, t: Trials, extra: { worker: RunningWorker; settings: GcSettings | undefined }): Metric[] {
  const scav = t.windows.reduce((s, w) => s + w.profiledScavenges, 0);
  const alloc = t.windows.reduce((s, w) => s + w.allocatedBytes, 0) / MB;
  const queries = t.windows.reduce((s, w) => s + w.queries, 0);
  const mcs = t.windows.reduce((s, w) => s + w.markCompacts, 0);
  return [
    measured(HEADLINE, '%', t.shares, { variant, note: `${t.shares.length} windows of ${t.windows[0].queries} queries; ${describeSettings(extra.settings)}` }),
    measured(P99, 'ms', t.latencies, { variant, stat: 'p99', note: `${t.latencies.length} queries, 8 in flight` }),
    { name: 'scavenges per 1,000 queries', value: (1000 * scav) / queries, unit: '', variant, note: `${(alloc / Math.max(1, scav)).toFixed(1)} MB allocated per scavenge` },
    { name: 'mark-compacts per 1,000 queries', value: (1000 * mcs) / queries, unit: '', variant },
    { name: 'V8 heap limit', value: extra.worker.heapLimitBytes, unit: 'bytes', variant, note: 'old space + 3 × semi-space' },
  ];
}

/** Runs `trials` windows on each worker, interleaved, so a slow spell of the machine does not land on one of them. */
async function trialsOf(workers: Array<[string, RunningWorker]>, size: Size, log: (m: string) => void): Promise<Map<string, Trials>> {
  const out = new Map<string, Trials>();
  for (let i = 0; i < size.trials; i++) {
    for (const [name, w] of workers) {
      log(`${name}: window ${i + 1}/${size.trials}, ${size.window} queries`);
      const s = await w.window(size.window);
      const t = out.get(name) ?? { shares: [], latencies: [], windows: [] };
      t.shares.push((100 * s.gcMs) / s.wallMs);
      t.latencies.push(...s.latencies);
      t.windows.push(s);
      out.set(name, t);
    }
  }
  return out;
}

/** One worker per setting in turn (full mode): started, warmed, two windows, closed. */
async function sweep(
  points: Array<{ label: string; x: number; settings: GcSettings; cfg: WorkerConfig }>,
  size: Size,
  log: (m: string) => void,
): Promise<Array<{ label: string; x: number; share: number; p99: number; markCompacts: number; trials: Trials } | { label: string; x: number; error: string }>> {
  const out = [];
  for (const p of points) {
    log(`sweep: ${p.label} (${nodeFlags(p.settings).join(' ')}, keep ${p.cfg.keep})`);
    let w: RunningWorker | undefined;
    try {
      w = await startWorker(p.settings, p.cfg);
      const t = (await trialsOf([[p.label, w]], { ...size, trials: 2 }, () => {})).get(p.label)!;
      const sorted = [...t.latencies].sort((a, b) => a - b);
      out.push({
        label: p.label,
        x: p.x,
        share: t.shares.reduce((a, b) => a + b, 0) / t.shares.length,
        p99: sorted[Math.min(sorted.length - 1, Math.ceil(0.99 * sorted.length) - 1)],
        markCompacts: t.windows.reduce((s, x) => s + x.markCompacts, 0),
        trials: t,
      });
    } catch (err) {
      out.push({ label: p.label, x: p.x, error: (err as Error).message });
    } finally {
      await w?.close();
    }
  }
  return out;
}

export default defineLesson<Size, Input>({
  id: 't2/04-gc-tuning',
  title: 'GC tuning: semi-space, old-space cap and allocation shape for a query worker',
  workload:
    'hybrid queries with answers (createEngine, n Brown documents, 8 in flight) in a worker process per GC setting; ' +
    'GC time share = PerformanceObserver gc pauses / wall time of a window of queries, after warm-up',
  sizes: {
    quick: { docs: 6, warmup: 150, window: 1_200, trials: 2, sweeps: false },
    full: { docs: 30, warmup: 500, window: 3_000, trials: 4, sweeps: true },
  },
  setup: async (size, ctx) => {
    const cfg: WorkerConfig = { docs: size.docs, concurrency: 8, warmup: size.warmup, keep: 'none' };
    ctx.log(`a worker with Node's default GC flags measures the load (${size.docs} documents)`);
    const reference = await startWorker(undefined, cfg);
    const load = profileOf(reference, await reference.window(Math.min(250, size.window)));
    ctx.log(
      `load: live heap ${load.liveHeapMB.toFixed(1)} MB, ${load.allocatedKBPerQuery.toFixed(0)} KB allocated per query, ` +
        `budget ${load.budgetMB} MiB per worker`,
    );
    const input: Input = { size, cfg, load, workers: new Map([[DEFAULTS, reference]]), settings: new Map([[DEFAULTS, undefined]]) };
    const ex = ctx.exercise as typeof after | undefined;
    const chosen: Array<[string, () => GcSettings]> = [
      ['before', () => before.chooseSettings(load)],
      ['after', () => after.chooseSettings(load)],
      ...(ex ? [[EXERCISE, () => ex.chooseSettings(load)] as [string, () => GcSettings]] : []),
    ];
    try {
      await Promise.all(
        chosen.map(async ([name, choose]) => {
          let settings: GcSettings;
          try {
            settings = choose();
            ctx.log(`${name}: ${describeSettings(settings)}`);
            input.settings.set(name, settings);
            input.workers.set(name, await startWorker(settings, cfg));
          } catch (err) {
            if (name !== EXERCISE) throw err;
            input.exerciseError = `exercise.ts: ${(err as Error).message}`;
            ctx.log(input.exerciseError);
          }
        }),
      );
    } catch (err) {
      await Promise.all([...input.workers.values()].map((w) => w.close()));
      throw err;
    }
    return input;
  },
  teardown: async (input) => {
    await Promise.all([...input.workers.values()].map((w) => w.close()));
  },
  baseline: 'before',
  headline: { name: HEADLINE, unit: '%', better: 'lower', metric: HEADLINE },
  variants: {
    before: (input) => batch(input, 'before'),
    after: (input) => batch(input, 'after'),
    [DEFAULTS]: (input) => batch(input, DEFAULTS),
  },
  exercise: (input) => batch(input, EXERCISE),
  // the per-call table times one batch of 10 queries over IPC: a side figure; a few calls keep the run short
  options: { iterations: 2, time: 0, warmupTime: 0 },
  extras: async (input, ctx) => {
    const metrics: Metric[] = [];
    const curves = [];
    const workers = [...input.workers.entries()];
    const trials = await trialsOf(workers, input.size, ctx.log);
    for (const [name, w] of workers) {
      const t = trials.get(name);
      if (t) metrics.push(...summarise(name, t, { worker: w, settings: input.settings.get(name) }));
    }
    metrics.push(
      { name: 'live heap of the load', value: input.load.liveHeapMB * MB, unit: 'bytes', note: 'after warm-up and a forced GC' },
      { name: 'allocated per query', value: input.load.allocatedKBPerQuery * 1024, unit: 'bytes', note: 'v8.GCProfiler over a window' },
    );
    if (!input.size.sweeps) return { metrics };

    const oldRoomy = 192;
    const semis = await sweep(
      [1, 2, 4, 8, 16, 32, 64].map((semi) => ({ label: `semi ${semi} MB`, x: semi, settings: { semiSpaceMB: semi, oldSpaceMB: oldRoomy }, cfg: input.cfg })),
      input.size,
      ctx.log,
    );
    const shape = { ...input.cfg, keep: 'objects' as const, ring: 2_000 };
    const live = input.load.liveHeapMB;
    const olds = await sweep(
      [1.25, 2, 4, 16].map((f) => {
        const old = Math.ceil(f * live);
        return { label: `old ${old} MB (${f} × live)`, x: old, settings: { semiSpaceMB: 16, oldSpaceMB: old }, cfg: shape };
      }),
      input.size,
      ctx.log,
    );
    const shapes = await sweep(
      (['none', 'objects', 'ids'] as const).map((keep, i) => ({
        label: `keep ${keep}`,
        x: i,
        settings: after.chooseSettings(input.load),
        cfg: { ...input.cfg, keep, ring: 2_000 },
      })),
      input.size,
      ctx.log,
    );
    const points = (rows: typeof semis, series: string, y: 'share' | 'p99'): CurvePoint[] =>
      rows.flatMap((r) => ('error' in r ? [] : [{ series, x: r.x, y: r[y], label: r.label }]));
    curves.push(
      { id: 'gc-share-vs-semi', title: 'GC time share against the semi-space size (old space 192 MB)', xLabel: 'semi-space (MB)', yLabel: 'GC time share (%)', xLog: true, points: points(semis, 'GC share', 'share') },
      { id: 'p99-vs-semi', title: 'Query p99 against the semi-space size', xLabel: 'semi-space (MB)', yLabel: 'p99 (ms)', xLog: true, points: points(semis, 'p99', 'p99') },
      { id: 'gc-share-vs-old', title: 'GC time share against the old-space cap (semi-space 16 MB, last 2,000 results kept as objects)', xLabel: 'old-space cap (MB)', yLabel: 'GC time share (%)', xLog: true, points: points(olds, 'GC share', 'share') },
    );
    for (const r of [...semis, ...olds, ...shapes]) {
      const group = r.label.startsWith('semi') ? 'semi-space sweep' : r.label.startsWith('old') ? 'old-space sweep' : 'allocation shape, after settings';
      if ('error' in r) {
        metrics.push({ name: `${group}: ${r.label}`, value: NaN, unit: '%', note: `failed: ${r.error.slice(0, 160)}` });
        continue;
      }
      metrics.push(
        measured(`${group}: GC share, ${r.label}`, '%', r.trials.shares, { note: `p99 ${r.p99.toFixed(1)} ms, ${r.markCompacts} mark-compacts in 2 windows` }),
      );
    }
    return { metrics, curves };
  },
});
