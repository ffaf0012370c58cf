/**
 * Checkpoint for 04-gc-tuning. `npm run checkpoint -- 04-gc-tuning` runs it against exercise.ts; plain
 * `npx vitest run` checks before.ts and after.ts.
 *
 * A reference worker with Node's default GC settings measures the load (its live heap after warm-up and a forced GC,
 * the bytes a query allocates, its rate): that is the `LoadProfile` each implementation's `chooseSettings` gets.
 * A worker is then started with the chosen flags and, once warm, measures a window of WINDOW queries. The checks are
 * counts and sizes V8 reports, never a time:
 *   - the answers are those of the reference worker;
 *   - the old space is at least twice the live heap;
 *   - V8's heap limit under those flags fits the worker's budget;
 *   - the young generation takes at least MIN_MB_PER_SCAVENGE of allocation per scavenge (v8.GCProfiler's heap sizes
 *     around each GC of the window, and its scavenges).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { implementations } from '../../shared/lab/checkpoint.ts';
import { MB, profileOf, startWorker, type GcSettings, type LoadProfile, type WindowStats, type WorkerConfig } from './gc-kit.ts';

type Mod = typeof import('./after.ts');

const CFG: WorkerConfig = { docs: 10, concurrency: 8, warmup: 300, keep: 'none' };
const WINDOW = 2_000;
/** At most one scavenge per this much allocation: a semi-space of about 8 MB and up, past the knee of the sweep. */
const MIN_MB_PER_SCAVENGE = 6;

interface Measured {
  heapLimitBytes: number;
  digest: string;
  stats: WindowStats;
}

type Settled<T> = { value: T } | { error: Error };
const settle = <T>(p: Promise<T>): Promise<Settled<T>> => p.then((value) => ({ value }), (error: Error) => ({ error }));

/** A worker with these settings (undefined: Node's defaults), warm, one window of WINDOW queries. */
async function measure(settings: GcSettings | undefined): Promise<Measured & { liveHeapBytes: number }> {
  const worker = await startWorker(settings, CFG);
  try {
    const stats = await worker.window(WINDOW);
    return { liveHeapBytes: worker.liveHeapBytes, heapLimitBytes: worker.heapLimitBytes, digest: worker.digest, stats };
  } finally {
    await worker.close();
  }
}

const flags = (s: GcSettings) => `--max-semi-space-size=${s.semiSpaceMB} --max-old-space-size=${s.oldSpaceMB}`;
const impls = await implementations<Mod>(import.meta.url);

// the reference first (its profile is every choice's input), then every implementation's worker at once: the checks
// are counts and sizes, which do not depend on how busy the machine is
const referenceRun = settle(measure(undefined));
const choices = new Map<string, Promise<Settled<{ settings: GcSettings; load: LoadProfile; reference: Measured }>>>();
const runs = new Map<string, Promise<Settled<Measured>>>();
for (const [name, impl] of impls) {
  const choice = referenceRun.then(async (r) => {
    if ('error' in r) throw new Error(`the reference worker (Node's default GC settings) failed: ${r.error.message}`);
    const load = profileOf(r.value, r.value.stats);
    return { settings: impl.chooseSettings(load), load, reference: r.value };
  });
  choices.set(name, settle(choice));
  runs.set(name, settle(choice.then((c) => measure(c.settings))));
}

describe.each(impls)('%s', (name) => {
  let choice: Settled<{ settings: GcSettings; load: LoadProfile; reference: Measured }>;
  let run: Settled<Measured>;
  beforeAll(async () => {
    choice = await choices.get(name)!;
    run = await runs.get(name)!;
  });
  const chosen = () => {
    if ('error' in choice) throw new Error(`chooseSettings failed: ${choice.error.message}`);
    return choice.value;
  };
  const running = (): Measured => {
    const { settings } = chosen();
    if ('error' in run) throw new Error(`the worker did not run with ${flags(settings)}: ${run.error.message}`);
    return run.value;
  };

  it('chooses sizes in whole MB, positive', () => {
    for (const [k, v] of Object.entries(chosen().settings)) expect(Number.isInteger(v) && v > 0, `${k} = ${v}`).toBe(true);
  });

  it('answers exactly as a worker with Node’s default GC settings', () => {
    expect(running().digest, 'the first 50 answers differ from those under the default flags').toBe(chosen().reference.digest);
  });

  describe.skipIf(name === 'before')('the choice', () => {
    it('leaves the old space at least twice the live heap', () => {
      const { settings, load } = chosen();
      const need = 2 * load.liveHeapMB;
      expect(
        settings.oldSpaceMB,
        `old space ${settings.oldSpaceMB} MB is less than twice the live heap (${load.liveHeapMB.toFixed(1)} MB after a ` +
          `forced GC, so at least ${Math.ceil(need)} MB): the old generation would run near its cap, marking and ` +
          `compacting the whole heap each time the little room left fills up, and a burst of promotions ends out of memory`,
      ).toBeGreaterThanOrEqual(need);
    });

    it("keeps V8's heap limit within the worker's budget", () => {
      const { settings, load } = chosen();
      const limitMB = running().heapLimitBytes / MB;
      expect(
        limitMB,
        `heap limit ${limitMB.toFixed(0)} MiB under ${flags(settings)} (the old space plus the young generation, ` +
          `three times the semi-space) is over the worker's budget of ${load.budgetMB} MiB`,
      ).toBeLessThanOrEqual(load.budgetMB);
    });

    it(`takes at least ${MIN_MB_PER_SCAVENGE} MB of allocation per scavenge over ${WINDOW} queries`, () => {
      const { settings } = chosen();
      const { stats } = running();
      const allocatedMB = stats.allocatedBytes / MB;
      const perScavenge = allocatedMB / Math.max(1, stats.profiledScavenges);
      expect(
        perScavenge,
        `${stats.profiledScavenges} scavenges for ${allocatedMB.toFixed(0)} MB allocated in ${WINDOW} queries: ` +
          `${perScavenge.toFixed(1)} MB per scavenge, rule ≥ ${MIN_MB_PER_SCAVENGE} MB. Each scavenge stops the thread to ` +
          `copy what is in flight; with a ${settings.semiSpaceMB} MB semi-space they come so often that the GC share ` +
          `stays high (the benchmark's semi-space sweep measures it for each size)`,
      ).toBeGreaterThanOrEqual(MIN_MB_PER_SCAVENGE);
    });
  });
});
