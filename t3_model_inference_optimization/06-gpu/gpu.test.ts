/**
 * Checkpoint for 06-gpu. `npm run checkpoint -- 06-gpu` runs it against exercise.ts; plain `npx vitest run` checks
 * before.ts (a session per request with the provider list it is given: only the "same outputs" check applies, with
 * `prefer: ['cpu']`) and after.ts.
 *
 * The model: the seeded encoder in a tiny shape (2 layers, hidden 32; shared/model/encoder.ts). Seeded weights: its
 * outputs carry no meaning; they are compared with a plain CPU session's (shared/model/session.ts) within 1e-5.
 *
 * Most checks run through a stand-in for `InferenceSession.create` that behaves as onnxruntime-node 1.30 does on a
 * machine without CUDA (any `executionProviders` list naming 'cuda' throws "Failed to load shared library", an
 * unknown name throws "backend not found") or with it (then it opens a CPU session and records the options it was
 * given), counts every session it opens, and records what each `run` was handed. So they hold on every machine and
 * count deterministic costs, never time: sessions opened per request, CUDA attempts per process, preallocated
 * outputs (reused, and kept for a bounded number of batch sizes). One test runs on a real GPU and is skipped with the
 * install command where this build has no CUDA provider; the fallback test with the real onnxruntime runs everywhere.
 *
 * What two `run` calls on one session really do (checked below with the real onnxruntime-node, not a stand-in): the
 * binding's `run` returns a promise but executes the native run synchronously on this thread inside a setImmediate
 * (node_modules/onnxruntime-node/dist/backend.js), not on libuv's thread pool; so runs "in flight at once" execute
 * one after another, never overlapping. With a preallocated output tensor, onnxruntime writes into it and the binding
 * returns a new tensor holding a copy, never the one passed in: two runs sharing one preallocated tensor each return
 * their own rows, and the shared tensor holds whichever ran last.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import { isRagError } from '../../shared/errors.ts';
import { implementations } from '../../shared/lab/checkpoint.ts';
import { buildEncoderModel, TINY_ENCODER } from '../../shared/model/encoder.ts';
import { CUDA_INSTALL_COMMAND, outputRows, type CreateSession } from '../../shared/model/providers.ts';
import { embedAll, openSession, rowCosines, seededTexts, tokenFeeds } from '../../shared/model/session.ts';
import { cudaUnavailable, GPU_SKIP } from './data.ts';

type Mod = typeof import('./after.ts');

const model = buildEncoderModel(TINY_ENCODER);
const texts = seededTexts(24, TINY_ENCODER.vocab!, 1, 40);
const CUDA_MISSING = 'OrtSessionOptionsAppendExecutionProvider_Cuda: Failed to load shared library';
const noCuda = await cudaUnavailable();

let reference: Float32Array[];
beforeAll(async () => {
  const s = await openSession(model);
  reference = await embedAll(s, texts, 8);
  await s.release();
});

interface Opened {
  providers: string[];
  /** The lesson's model (not the one-node probe). */
  isModel: boolean;
  options: ort.InferenceSession.SessionOptions;
}

/** A stand-in for InferenceSession.create: onnxruntime-node 1.30's behaviour with or without CUDA, counted. */
function fakeOrt(gpu: boolean) {
  const opened: Opened[] = [];
  const runs: Array<{ batch: number; fetches: unknown }> = [];
  const create: CreateSession = async (bytes, options) => {
    const providers = (options.executionProviders ?? ['cpu']).map((e) => (typeof e === 'string' ? e : e.name));
    opened.push({ providers, isModel: bytes === model, options });
    for (const p of providers) {
      if (p === 'cuda' && !gpu) throw new Error(CUDA_MISSING);
      if (p !== 'cuda' && p !== 'cpu') throw new Error(`no available backend found. ERR: [${p}] backend not found.`);
    }
    const real = await ort.InferenceSession.create(bytes, { ...options, executionProviders: ['cpu'] });
    return new Proxy(real, {
      get(target, prop) {
        if (prop === 'run') {
          return async (feeds: Record<string, ort.Tensor>, fetches?: unknown, runOpts?: unknown) => {
            runs.push({ batch: Number(feeds.input_ids?.dims[0]), fetches });
            return (target.run as (...a: unknown[]) => Promise<ort.InferenceSession.ReturnType>)(feeds, fetches, runOpts);
          };
        }
        const v = Reflect.get(target, prop, target);
        return typeof v === 'function' ? v.bind(target) : v;
      },
    }) as ort.InferenceSession;
  };
  const modelOpens = () => opened.filter((o) => o.isModel).length;
  const cudaTries = () => opened.filter((o) => o.providers.includes('cuda')).length;
  return { create, opened, runs, modelOpens, cudaTries };
}

function expectClose(rows: Float32Array[], from = 0): void {
  const cos = rowCosines(reference.slice(from, from + rows.length), rows);
  const worst = Math.min(...cos);
  expect(worst, `an output row differs from a plain CPU session's (cosine ${worst.toFixed(6)})`).toBeGreaterThan(1 - 1e-5);
  for (let r = 0; r < rows.length; r++) {
    const ref = reference[from + r];
    for (let j = 0; j < ref.length; j++) {
      if (Math.abs(rows[r][j] - ref[j]) > 1e-5) expect.fail(`row ${from + r}[${j}] = ${rows[r][j]}, a plain CPU session gives ${ref[j]}`);
    }
  }
}

/** Opens through `impl`, turning a throw into the lesson's message. */
async function open(impl: Mod, opts: Parameters<Mod['openEncoderService']>[1]) {
  try {
    return await impl.openEncoderService(model, opts);
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    if (msg.includes('Failed to load shared library')) {
      expect.fail(
        `openEncoderService with prefer ${JSON.stringify(opts?.prefer)} threw where CUDA is missing: "${msg}". ` +
          `onnxruntime-node does not fall back within one executionProviders list: try one provider at a time`,
      );
    }
    throw err;
  }
}

describe.each(await implementations<Mod>(import.meta.url))('%s', (name, impl) => {
  it('returns the rows a plain CPU session gives (within 1e-5; seeded weights: outputs carry no meaning)', async () => {
    const svc = await open(impl, { prefer: name === 'before' ? ['cpu'] : ['cuda', 'cpu'] });
    try {
      for (let i = 0; i < texts.length; i += 8) expectClose(await svc.embed(texts.slice(i, i + 8)), i);
      expect(await svc.embed([]), 'an empty request gives no rows').toEqual([]);
    } finally {
      await svc.close();
    }
  });

  describe.skipIf(name === 'before')('the provider', () => {
    it('falls back to the CPU where CUDA does not load, records why and says so in one log line', async () => {
      const fake = fakeOrt(false);
      const lines: string[] = [];
      const svc = await open(impl, { prefer: ['cuda', 'cpu'], create: fake.create, log: (l) => lines.push(l) });
      try {
        expect(svc.provider, `the service says it runs on '${svc.provider}', but CUDA did not load: it runs on the CPU`).toBe('cpu');
        const cuda = svc.attempts.find((a) => a.provider === 'cuda');
        expect(cuda?.ok === false && /Failed to load shared library/.test(cuda.reason ?? ''), `attempts ${JSON.stringify(svc.attempts)} do not record why cuda was not used`).toBe(true);
        expect(lines.length, `${lines.length} log lines about the provider; one names the provider used and why the others were not`).toBe(1);
        expect(lines[0], `the log line "${lines[0]}" must name the provider used (cpu) and the one that failed (cuda)`).toMatch(/cpu[\s\S]*cuda|cuda[\s\S]*cpu/);
        expectClose(await svc.embed(texts.slice(0, 8)));
      } finally {
        await svc.close();
      }
    });

    it(`falls back with the real onnxruntime too (${noCuda ? 'no CUDA here: expects the CPU' : 'CUDA here: expects cuda'})`, async () => {
      const svc = await open(impl, { prefer: ['cuda', 'cpu'] });
      try {
        expect(svc.provider).toBe(noCuda ? 'cpu' : 'cuda');
      } finally {
        await svc.close();
      }
    });

    it('opens the model once and reuses the session: 1 session for 6 requests', async () => {
      const fake = fakeOrt(false);
      const svc = await open(impl, { prefer: ['cuda', 'cpu'], create: fake.create });
      try {
        for (let i = 0; i < 6; i++) await svc.embed(texts.slice(i * 4, i * 4 + 4));
        const n = fake.modelOpens();
        expect(n, `${n} sessions of the model opened for 6 requests; open it once and reuse the session`).toBe(1);
      } finally {
        await svc.close();
      }
    });

    it('probes a provider that failed once per process, not once per service', async () => {
      const fake = fakeOrt(false);
      for (let i = 0; i < 3; i++) await (await open(impl, { prefer: ['cuda', 'cpu'], create: fake.create })).close();
      const n = fake.cudaTries();
      expect(n, `cuda was tried ${n} times for 3 services: a provider whose libraries are missing stays missing; probe once and remember`).toBe(1);
    });

    it('hands every run a preallocated output tensor [batch, dim], one per batch size', async () => {
      const fake = fakeOrt(false);
      const svc = await open(impl, { prefer: ['cpu'], create: fake.create });
      try {
        const sizes = [4, 4, 2, 4, 2];
        let at = 0;
        for (const b of sizes) {
          expectClose(await svc.embed(texts.slice(at, at + b)), at);
          at += b;
        }
        const tensors = new Set<ort.Tensor>();
        fake.runs.forEach((r, i) => {
          const t = (r.fetches as Record<string, unknown> | undefined)?.sentence_embedding;
          if (!(t instanceof ort.Tensor)) expect.fail(`run ${i + 1} (batch ${r.batch}) was given no preallocated output tensor (fetches)`);
          expect(t.dims, `run ${i + 1}: the preallocated output is [${t.dims}], the run's output is [${r.batch}, 32]`).toEqual([r.batch, 32]);
          tensors.add(t);
        });
        expect(tensors.size, `${tensors.size} output tensors allocated for ${sizes.length} runs of 2 batch sizes: allocate one per batch size and reuse it`).toBe(2);
      } finally {
        await svc.close();
      }
    });

    it('gives each of 3 requests of one size at once its own rows', async () => {
      const svc = await open(impl, { prefer: ['cpu'] });
      try {
        const got = await Promise.all([0, 4, 8].map((at) => svc.embed(texts.slice(at, at + 4))));
        got.forEach((rows, i) => expectClose(rows, i * 4));
      } finally {
        await svc.close();
      }
    });

    it('keeps output tensors for a bounded number of batch sizes (12 sizes served twice: at most 8 tensors kept)', async () => {
      const fake = fakeOrt(false);
      const svc = await open(impl, { prefer: ['cpu'], create: fake.create });
      try {
        const sizes = Array.from({ length: 12 }, (_, i) => i + 1);
        for (const b of sizes) await svc.embed(texts.slice(0, b));
        const first = new Set(fake.runs.map((r) => (r.fetches as Record<string, unknown> | undefined)?.sentence_embedding));
        fake.runs.length = 0;
        for (const b of sizes) await svc.embed(texts.slice(0, b));
        const kept = fake.runs.filter((r) => first.has((r.fetches as Record<string, unknown> | undefined)?.sentence_embedding)).length;
        expect(
          kept,
          `the service still held output tensors for ${kept} of 12 batch sizes: one tensor per batch size ever seen, kept for the life of the service, ` +
            `is memory that only grows under varied load; keep free tensors for a bounded number of sizes`,
        ).toBeLessThanOrEqual(8);
      } finally {
        await svc.close();
      }
    });

    it("passes CUDA's deviceId and the CPU arena settings to the session, and reports the CUDA options the binding ignores", async () => {
      const fake = fakeOrt(true);
      const svc = await open(impl, {
        prefer: ['cuda', 'cpu'],
        create: fake.create,
        cuda: { deviceId: 1, gpuMemLimit: 2 ** 30 },
        cpu: { enableCpuMemArena: false, enableMemPattern: false },
      });
      try {
        expect(svc.provider, 'CUDA opens here (simulated GPU): the service must run on it').toBe('cuda');
        const o = fake.opened.find((x) => x.isModel)!;
        expect(o.options.executionProviders, 'the model must be opened with CUDA alone, on the device asked for').toEqual([{ name: 'cuda', deviceId: 1 }]);
        expect([o.options.enableCpuMemArena, o.options.enableMemPattern], 'enableCpuMemArena / enableMemPattern as asked (false, false)').toEqual([false, false]);
        expect(svc.notApplied, 'gpuMemLimit is not applied by onnxruntime-node 1.30: say so').toContain('cuda.gpuMemLimit');
      } finally {
        await svc.close();
      }
    });

    it('refuses an empty provider list and a list where nothing opens with a RagError naming why (and the CUDA install command)', async () => {
      const fake = fakeOrt(false);
      const refused = async (prefer: string[], code: string, message: RegExp) => {
        let err: unknown;
        try {
          await (await impl.openEncoderService(model, { prefer, create: fake.create })).close();
        } catch (e) {
          err = e;
        }
        expect(isRagError(err, code), `prefer ${JSON.stringify(prefer)}: expected a RagError ${code}, got ${String(err)}`).toBe(true);
        expect((err as Error).message).toMatch(message);
      };
      await refused([], 'INVALID_INPUT', /prefer/);
      await refused(['cuda', 'dml'], 'UNAVAILABLE', new RegExp(`Failed to load shared library[\\s\\S]*backend not found[\\s\\S]*${CUDA_INSTALL_COMMAND.split(' ')[0]}`));
    });
  });
});

describe('onnxruntime-node itself (the facts the lesson states about run and preallocated outputs)', () => {
  it('runs two calls on one session one after another and returns a copy, not the preallocated tensor: sharing one gives each caller its own rows', async () => {
    const s = await openSession(model);
    try {
      const a = texts.slice(0, 4);
      const b = texts.slice(4, 8);
      const shared = new ort.Tensor('float32', new Float32Array(4 * 32), [4, 32]);
      const order: string[] = [];
      const [ra, rb] = await Promise.all([
        s.run(tokenFeeds(a), { sentence_embedding: shared }).then((r) => (order.push('a'), r)),
        s.run(tokenFeeds(b), { sentence_embedding: shared }).then((r) => (order.push('b'), r)),
      ]);
      expect(order, 'runs complete in the order they were called').toEqual(['a', 'b']);
      expect(ra.sentence_embedding, 'the returned tensor is not the preallocated one').not.toBe(shared);
      expect((ra.sentence_embedding.data as Float32Array).buffer, 'nor a view of its buffer').not.toBe((shared.data as Float32Array).buffer);
      expectClose(outputRows(ra.sentence_embedding, 4), 0);
      expectClose(outputRows(rb.sentence_embedding, 4), 4);
      expectClose(outputRows(shared, 4), 4); // the shared tensor holds the run that came last
    } finally {
      await s.release();
    }
  });
});

describe('the GPU path', () => {
  it.skipIf(noCuda !== undefined)(noCuda ? `runs the model on CUDA (${GPU_SKIP})` : 'runs the model on CUDA: rows within 1e-3 of the CPU', async () => {
    const { openEncoderService } = await import('./after.ts');
    const svc = await openEncoderService(model, { prefer: ['cuda'] });
    try {
      expect(svc.provider).toBe('cuda');
      const rows = await svc.embed(texts.slice(0, 8));
      const cos = rowCosines(reference.slice(0, 8), rows);
      expect(Math.min(...cos)).toBeGreaterThan(1 - 1e-3);
    } finally {
      await svc.close();
    }
  });
});
