/**
 * Benchmark for 10-docker-images: the engine's image built two ways (and the learner's, with `--impl exercise`),
 * from bases made on this machine (shared/deploy/images.ts; nothing can be pulled here).
 *
 * - **before**: Dockerfile.naive, one stage, `COPY . .` of the whole checkout, tsx at start, root.
 * - **after**: Dockerfile, multi-stage: lockfile → npm ci → compile → a runtime of what the services import, uid 10001.
 *
 * Headline: the image size (`docker image inspect .Size`, every layer, the base included): what every node that runs
 * the service pulls. Beside it:
 * - start-up to ready: `docker run` of the embedder (with the index already on its /data volume, built once by the
 *   image's `index` command) to its first `GET /readyz` 200 — the figure lesson 12's probe timings derive from;
 * - the steps the layer cache re-runs after a one-line change in shared/engine.ts (counted on the Dockerfile:
 *   dockerfile-model.ts) and, full run only, the measured rebuild time after that change (on a copy of the context,
 *   the checkout untouched).
 * The tinybench table times the checkpoint's static judgement of each Dockerfile (parse, rules, cache simulation):
 * not the lesson's figure.
 *
 * Images are built once per content hash: a run with nothing changed reuses them (quick mode then takes seconds). A
 * cold build runs `npm ci` against the registry (with --network host) and takes minutes.
 *
 * Run: npm run t4 -- --only 10-docker-images [--quick] [--impl exercise]
 */
import { defineLesson, EXERCISE, type Metric } from '../../shared/lab/lesson.ts';
import { measured } from '../../shared/lab/metric.ts';
import { runContainer } from '../../shared/deploy/container.ts';
import { APP_TAGS, buildAppImage, buildFromDockerfile, measureRebuild, type AppVariant } from '../../shared/deploy/images.ts';
import { DOCKER_SKIP_MESSAGE, docker, dockerAvailable } from '../../shared/deploy/rootfs.ts';
import * as after from './after.ts';
import * as before from './before.ts';
import { parseDockerfile, problems, rebuiltAfter } from './dockerfile-model.ts';
import { SPEC } from './spec.ts';

type Mod = typeof after;

interface Size {
  /** Container starts per variant for the start-up figure. */
  startups: number;
  /** Measure the rebuild after a one-line change (minutes for the naive image). */
  rebuild: boolean;
}

interface Built {
  variant: string;
  tag: string;
  text: string;
  sizeBytes: number;
  /** For the rebuild measurement: which lab image it is. */
  app?: AppVariant;
}

interface Input {
  size: Size;
  built: Built[];
  volume: string;
}

const HEADLINE = 'image size';
const SOURCE_FILE = 'shared/engine.ts';

function judge(text: string): number {
  const df = parseDockerfile(text);
  return problems(df).length + rebuiltAfter(df, SOURCE_FILE).length;
}

export default defineLesson<Size, Input>({
  id: 't4/10-docker-images',
  title: 'Docker images: one naive stage vs a multi-stage build (size, rebuild, start-up)',
  workload:
    'the engine image built from Dockerfile.naive and from the multi-stage Dockerfile on locally made bases; each runs the embedder from a prepared index volume until /readyz answers 200',
  sizes: { quick: { startups: 1, rebuild: false }, full: { startups: 3, rebuild: true } },
  skip: async () => ((await dockerAvailable()) ? undefined : DOCKER_SKIP_MESSAGE),
  setup: async (size, ctx) => {
    const built: Built[] = [];
    for (const [variant, app, mod] of [
      ['before', 'naive', before],
      ['after', 'multistage', after],
    ] as const) {
      // quick: an existing naive image is reused as it is (its hash covers every file of the checkout; a rebuild copies 1.3 GB)
      const b = await buildAppImage({ variant: app, log: ctx.log, reuse: app === 'naive' && ctx.mode === 'quick' });
      built.push({ variant, tag: b.tag, text: mod.dockerfile(SPEC), sizeBytes: b.sizeBytes, app });
    }
    const ex = ctx.exercise as Mod | undefined;
    if (ex) {
      const text = ex.dockerfile(SPEC);
      const bad = problems(parseDockerfile(text));
      for (const p of bad) ctx.log(`exercise Dockerfile: ${p.message}`);
      const b = await buildFromDockerfile(text, 'rag-lab/rag:exercise', { log: ctx.log });
      built.push({ variant: EXERCISE, tag: b.tag, text, sizeBytes: b.sizeBytes });
    }
    // the index every start-up run loads, built once on a volume by the image itself
    const volume = `ragl10-bench-${process.pid}`;
    ctx.log(`building the index on volume ${volume}`);
    await docker(['run', '--rm', '-v', `${volume}:/data`, APP_TAGS.multistage, 'index']);
    return { size, built, volume };
  },
  teardown: async (input) => {
    await docker(['volume', 'rm', '-f', input.volume], { allowFail: true });
  },
  baseline: 'before',
  headline: { name: HEADLINE, unit: 'bytes', better: 'lower', metric: HEADLINE },
  variants: {
    before: (input) => judge(input.built[0]!.text),
    after: (input) => judge(input.built[1]!.text),
  },
  exercise: (input) => judge(input.built.find((b) => b.variant === EXERCISE)!.text),
  options: { iterations: 50, time: 50, warmupTime: 10, rounds: 1 },
  extras: async (input, ctx) => {
    const metrics: Metric[] = [];
    for (const b of input.built) {
      metrics.push(measured(HEADLINE, 'bytes', [b.sizeBytes], { variant: b.variant, note: b.tag }));
      const df = parseDockerfile(b.text);
      const rerun = rebuiltAfter(df, SOURCE_FILE);
      const what = rerun.map((s) => `${s.op} ${s.args.replace(/^\[|"|\]$/g, '').slice(0, 40)}`).join('; ');
      metrics.push(measured('steps re-run after a one-line change', 'steps', [rerun.length], { variant: b.variant, note: `${what} (cache model, conservative: an identical COPY --from is kept by the builder)` }));
      metrics.push(measured('rules broken', 'rules', [problems(df).length], { variant: b.variant, note: problems(df).map((p) => p.rule).join(', ') || 'none' }));
    }
    // start-up to ready, interleaved: before, after, (exercise), before, after...
    const startups = new Map<string, number[]>();
    for (let i = 0; i < input.size.startups; i++) {
      for (const b of input.built) {
        let c: Awaited<ReturnType<typeof runContainer>> | undefined;
        try {
          c = await runContainer({ image: b.tag, name: `ragl10-bench-${process.pid}-${b.variant}`, command: ['embedder'], readOnly: b.variant !== 'before', volume: input.volume, log: ctx.log });
          const ms = await c.waitReady(180_000);
          startups.set(b.variant, [...(startups.get(b.variant) ?? []), ms]);
          ctx.log(`${b.variant}: ready ${ms.toFixed(0)} ms after docker run`);
        } catch (err) {
          if (b.variant !== EXERCISE) throw err;
          ctx.log(`exercise image did not get ready: ${(err as Error).message.split('\n').slice(0, 6).join(' | ')}`);
        } finally {
          await c?.remove();
        }
      }
    }
    for (const [variant, samples] of startups) metrics.push(measured('start-up to ready', 'ms', samples, { variant, note: 'docker run → first /readyz 200 (embedder, index on the volume)' }));
    if (input.size.rebuild) {
      for (const b of input.built.filter((x) => x.app)) {
        const s = await measureRebuild(b.app!, { file: SOURCE_FILE, log: ctx.log });
        metrics.push(measured('rebuild after a one-line change', 'ms', [s * 1000], { variant: b.variant, note: `${SOURCE_FILE}, layer cache warm` }));
      }
    } else {
      ctx.log('rebuild time: measured in the full run only (npm run t4 -- --only 10-docker-images)');
    }
    return { metrics };
  },
});
