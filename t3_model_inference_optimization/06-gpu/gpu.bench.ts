/**
 * Benchmark for 06-gpu: the seeded encoder (MiniLM-L6's shape in full mode, a small one in quick mode) served by a
 * session opened per request (before) and by one session on the provider chosen by probing (after: ['cuda', 'cpu'],
 * which lands on the CPU on this project's CPU build), beside the CPU settings turned off one at a time: the memory
 * arena, the memory pattern, the preallocated outputs. Run: npm run t3 -- --only 06-gpu [--quick] [--impl exercise]
 *
 * Headline: throughput in texts/s per provider: trials of `calls` requests of `batch` seeded token-id lists (seq
 * `seq`), one after another, the variants in rotation within each trial; one intra-op thread. The timed call is one
 * request. Seeded weights: outputs carry no meaning (the checkpoint compares them with a plain CPU session's).
 *
 * GPU: where this build has the CUDA provider, 'after' runs on it and a 'cpu only' row is added; otherwise the
 * workload line says "skipped: no CUDA provider in this build (ONNXRUNTIME_NODE_INSTALL=cuda12 npm rebuild
 * onnxruntime-node)". before.ts as written (['cuda', 'cpu'] per request) throws here; it is measured with ['cpu'].
 */
import { defineLesson, EXERCISE, type Metric, type VariantFn } from '../../shared/lab/lesson.ts';
import { measured } from '../../shared/lab/metric.ts';
import type { EncoderOptions } from '../../shared/model/encoder.ts';
import { lessonEncoder } from '../../shared/model/lesson-model.ts';
import { firstLine, probeFor } from '../../shared/model/providers.ts';
import { seededTexts } from '../../shared/model/session.ts';
import * as after from './after.ts';
import * as before from './before.ts';
import { cudaUnavailable, GPU_SKIP, type EncoderService, type EncoderServiceOptions } from './data.ts';

type Mod = typeof after;

const HEADLINE = 'throughput';
const NOTE = 'seeded weights: outputs carry no meaning';

interface Size {
  encoder: EncoderOptions;
  label: string;
  seq: number;
  batch: number;
  /** Requests per throughput trial. */
  calls: number;
  trials: number;
}

interface Input {
  size: Size;
  services: Record<string, EncoderService>;
  /** Why a service could not be opened (the exercise as shipped, say): its variant throws this. */
  failed: Record<string, Error>;
  requests: number[][][];
  cursor: number;
  openMs: Record<string, number[]>;
}

// Probed when the module loads: the GPU rows exist only where a CUDA session opens.
const noCuda = await cudaUnavailable();

const VARIANTS: Record<string, { open: (m: Uint8Array, log: (l: string) => void) => Promise<EncoderService>; what: string }> = {
  before: { open: (m) => before.openEncoderService(m, { prefer: ['cpu'] }), what: "a session per request (['cpu']; as written, ['cuda', 'cpu'] throws here)" },
  after: { open: (m, log) => after.openEncoderService(m, { prefer: ['cuda', 'cpu'], log }), what: "probed ['cuda', 'cpu'], one session, preallocated outputs, arena + memory pattern on" },
  ...(noCuda ? {} : { 'cpu only': { open: (m: Uint8Array) => after.openEncoderService(m, { prefer: ['cpu'] }), what: "after.ts with ['cpu']" } }),
  'cpu: arena off': { open: (m) => after.openEncoderService(m, { prefer: ['cpu'], cpu: { enableCpuMemArena: false } }), what: 'after.ts on the CPU, enableCpuMemArena false' },
  'cpu: memory pattern off': { open: (m) => after.openEncoderService(m, { prefer: ['cpu'], cpu: { enableMemPattern: false } }), what: 'after.ts on the CPU, enableMemPattern false' },
  'cpu: outputs not preallocated': { open: (m) => after.openEncoderService(m, { prefer: ['cpu'], preallocateOutputs: false }), what: 'after.ts on the CPU, onnxruntime allocates each output' },
};

async function request(input: Input, name: string): Promise<number> {
  const err = input.failed[name];
  if (err) throw err;
  const lists = input.requests[input.cursor++ % input.requests.length];
  const rows = await input.services[name].embed(lists);
  return rows.length;
}

export default defineLesson<Size, Input>({
  id: 't3/06-gpu',
  title: 'GPU: execution provider probed with a CPU fallback, one session reused, outputs preallocated vs a session per request',
  workload:
    'requests of 8 seeded token-id lists (seq 64) to the seeded encoder (random weights: outputs carry no meaning), one intra-op thread; ' +
    `headline: texts/s per provider over trials of sequential requests. ${noCuda ? `GPU row ${GPU_SKIP}` : 'GPU: CUDA provider present, after runs on it'}`,
  sizes: {
    quick: { encoder: { layers: 2, hidden: 128, heads: 4, ffn: 512, vocab: 8_000, maxPositions: 128 }, label: 'small encoder (2 layers, hidden 128, FFN 512)', seq: 64, batch: 8, calls: 10, trials: 3 },
    full: { encoder: {}, label: 'MiniLM-L6 shape (6 layers, hidden 384, FFN 1536)', seq: 64, batch: 8, calls: 8, trials: 4 },
  },
  setup: async (size, ctx) => {
    const enc = await lessonEncoder(size.encoder, size.label, ctx.model);
    ctx.log(ctx.model ? `running ${enc.label}` : `building the ${size.label} with seeded weights`);
    const model = enc.bytes;
    if (noCuda) ctx.log(`GPU rows ${GPU_SKIP}`);
    const opens: Record<string, (m: Uint8Array, log: (l: string) => void) => Promise<EncoderService>> = Object.fromEntries(Object.entries(VARIANTS).map(([k, v]) => [k, v.open]));
    const ex = ctx.exercise as Mod | undefined;
    if (ex) opens[EXERCISE] = (m, log) => ex.openEncoderService(m, { prefer: ['cuda', 'cpu'], log } satisfies EncoderServiceOptions);
    const services: Record<string, EncoderService> = {};
    const failed: Record<string, Error> = {};
    for (const [name, open] of Object.entries(opens)) {
      try {
        services[name] = await open(model, (l) => ctx.log(`${name}: ${l}`));
      } catch (err) {
        failed[name] = new Error(`${name} did not open: ${firstLine(err)}`);
        ctx.log(failed[name].message);
      }
    }
    // what opening the model costs (before.ts pays it on every request): three opens on the CPU
    const openMs: Record<string, number[]> = { cpu: [] };
    for (let i = 0; i < 3; i++) {
      const t0 = performance.now();
      const s = await probeFor().open('cpu', model, { executionProviders: ['cpu'], intraOpNumThreads: 1, graphOptimizationLevel: 'all' });
      openMs.cpu.push(performance.now() - t0);
      await s.release();
    }
    const vocab = enc.vocab;
    const requests = Array.from({ length: 16 }, (_, i) => seededTexts(size.batch, vocab, size.seq, size.seq, 600 + i));
    return { size, services, failed, requests, cursor: 0, openMs };
  },
  teardown: async (input) => {
    for (const s of Object.values(input.services)) await s.close();
  },
  baseline: 'before',
  headline: { name: HEADLINE, unit: 'texts/s', better: 'higher', metric: HEADLINE },
  variants: Object.fromEntries(Object.keys(VARIANTS).map((name) => [name, ((input: Input) => request(input, name)) as VariantFn<Input>])),
  exercise: (input) => request(input, EXERCISE),
  extras: async (input, ctx) => {
    const { size } = input;
    const names = Object.keys(input.services);
    const rates = new Map<string, number[]>(names.map((n) => [n, []]));
    ctx.log(`throughput: ${size.trials} trials × ${size.calls} requests of ${size.batch} texts per variant, in rotation`);
    for (let t = 0; t < size.trials; t++) {
      for (const name of names) {
        await request(input, name); // warm-up (the memory pattern is planned on the first run of a shape)
        const t0 = performance.now();
        for (let c = 0; c < size.calls; c++) await request(input, name);
        rates.get(name)!.push((size.calls * size.batch * 1000) / (performance.now() - t0));
      }
    }
    const metrics: Metric[] = [];
    for (const name of names) {
      const svc = input.services[name];
      const what = name === EXERCISE ? 'exercise.ts' : VARIANTS[name].what;
      metrics.push(
        measured(HEADLINE, 'texts/s', rates.get(name)!, {
          variant: name,
          note: `provider ${svc.provider}; ${what}; ${size.label}, batch ${size.batch}, seq ${size.seq}, 1 thread; mean of ${size.trials} trials of ${size.calls} requests; ${NOTE}`,
        }),
      );
    }
    metrics.push(measured('opening the model (one session, CPU)', 'ms', input.openMs.cpu, { stat: 'median', note: `${size.label}; what before.ts pays on every request; median of 3` }));
    return { metrics };
  },
});
