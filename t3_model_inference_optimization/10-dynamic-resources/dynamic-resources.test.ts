/**
 * Checkpoint for 10-dynamic-resources. `npm run checkpoint -- 10-dynamic-resources` runs it against exercise.ts;
 * plain `npx vitest run` checks before.ts (one session in this thread, default threads: only the "same rows" check
 * applies) and after.ts.
 *
 * The model: the seeded encoder in a tiny shape (2 layers, hidden 32). Seeded weights: its outputs carry no meaning;
 * a pool's rows are compared with one plain session's within 1e-5 (the pool opens its real sessions: worker threads
 * for after.ts).
 *
 * The other checks open the pool for a machine of 4 cores (`cores: 4`, whatever this one has) through counting
 * stand-ins for both ways to open a session: `create` (a session in this thread, `ort.InferenceSession.create`) and
 * `openWorker` (a session in a worker thread, `SessionWorker.open`; the stand-in runs a real 1-thread session in this
 * thread behind the same interface, to keep the checkpoint fast). They record how many sessions of each kind, how
 * many intra-op threads each (unset or 0 is onnxruntime's default, one per core: counted as 4), and how many
 * requests each session has at once. Counts, never time: sessions in this thread (onnxruntime-node runs the native
 * run synchronously on the calling thread, so those never overlap and block the event loop), threads in total
 * against cores, sessions for the load, requests in flight per session.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import { isRagError } from '../../shared/errors.ts';
import { implementations } from '../../shared/lab/checkpoint.ts';
import { buildEncoderModel, TINY_ENCODER } from '../../shared/model/encoder.ts';
import type { CreateSession } from '../../shared/model/providers.ts';
import { embedAll, openSession, seededTexts } from '../../shared/model/session.ts';
import type { WireOutputs } from '../../shared/model/session-worker.ts';
import type { OpenWorker } from './data.ts';

type Mod = typeof import('./after.ts');

const CORES = 4;
const model = buildEncoderModel(TINY_ENCODER);
const texts = seededTexts(48, TINY_ENCODER.vocab!, 1, 40);

let reference: Float32Array[];
beforeAll(async () => {
  const s = await openSession(model);
  reference = await embedAll(s, texts, 2);
  await s.release();
});

/** Counting stand-ins for InferenceSession.create and SessionWorker.open (real 1-thread CPU sessions underneath). */
function countingOrt() {
  const threads: number[] = [];
  let inThread = 0;
  let maxPerSession = 0;
  let inFlight = 0;
  let maxInFlight = 0;
  const countThreads = (t: number | undefined) => threads.push(t === undefined || t === 0 ? CORES : t);
  /** Wraps one request on one session: counts it from the call until its answer. */
  const counted = () => {
    let mine = 0;
    return async <T>(fn: () => Promise<T>): Promise<T> => {
      mine++;
      inFlight++;
      maxPerSession = Math.max(maxPerSession, mine);
      maxInFlight = Math.max(maxInFlight, inFlight);
      try {
        // yield first so that concurrent callers overlap here, as requests posted to a worker do
        await new Promise((r) => setImmediate(r));
        return await fn();
      } finally {
        mine--;
        inFlight--;
      }
    };
  };
  const create: CreateSession = async (bytes, options) => {
    countThreads(options.intraOpNumThreads);
    inThread++;
    const real = await ort.InferenceSession.create(bytes, { executionProviders: ['cpu'], intraOpNumThreads: 1 });
    const count = counted();
    return new Proxy(real, {
      get(target, prop) {
        if (prop === 'run') return (...args: unknown[]) => count(() => (target.run as (...a: unknown[]) => Promise<ort.InferenceSession.ReturnType>)(...args));
        const v = Reflect.get(target, prop, target);
        return typeof v === 'function' ? v.bind(target) : v;
      },
    }) as ort.InferenceSession;
  };
  const openWorker: OpenWorker = async (bytes, options) => {
    countThreads(options.intraOpNumThreads);
    const real = await ort.InferenceSession.create(bytes, { executionProviders: ['cpu'], intraOpNumThreads: 1 });
    const count = counted();
    return {
      outputNames: real.outputNames,
      run: (feeds) =>
        count(async () => {
          const tensors: Record<string, ort.Tensor> = {};
          for (const [k, t] of Object.entries(feeds)) tensors[k] = new ort.Tensor(t.type ?? 'int64', t.data as BigInt64Array, t.dims);
          const out = await real.run(tensors);
          const wire: WireOutputs = {};
          for (const [k, t] of Object.entries(out)) wire[k] = { data: t.data as Float32Array, dims: [...t.dims], type: 'float32' };
          return wire;
        }),
      close: () => real.release(),
    };
  };
  return {
    create,
    openWorker,
    threads,
    get inThread() {
      return inThread;
    },
    get maxPerSession() {
      return maxPerSession;
    },
    get maxInFlight() {
      return maxInFlight;
    },
  };
}

/** 2 texts per request, all sent at once. */
async function load(pool: Awaited<ReturnType<Mod['openPool']>>, requests: number) {
  const parts = Array.from({ length: requests }, (_, i) => texts.slice((2 * i) % texts.length, ((2 * i) % texts.length) + 2));
  return Promise.all(parts.map((p) => pool.embed(p)));
}

describe.each(await implementations<Mod>(import.meta.url))('%s', (name, impl) => {
  it('returns the rows one session gives, for 24 requests at once (within 1e-5; seeded weights: outputs carry no meaning)', async () => {
    const pool = await impl.openPool(model, { concurrency: 16, batch: 2, cores: CORES });
    try {
      const got = (await load(pool, 24)).flat();
      expect(got.length).toBe(48);
      for (let r = 0; r < got.length; r++) {
        for (let j = 0; j < reference[r].length; j++) {
          if (Math.abs(got[r][j] - reference[r][j]) > 1e-5) expect.fail(`row ${r}[${j}] = ${got[r][j]}, one session gives ${reference[r][j]}`);
        }
      }
      expect(await pool.embed([]), 'an empty request gives no rows').toEqual([]);
    } finally {
      await pool.close();
    }
  });

  describe.skipIf(name === 'before')('sized for the load', () => {
    it('runs no session in the caller\'s thread (sessions that really run at once, an event loop never blocked)', async () => {
      const fake = countingOrt();
      const pool = await impl.openPool(model, { concurrency: 16, batch: 2, cores: CORES, create: fake.create, openWorker: fake.openWorker });
      await pool.close();
      expect(
        fake.inThread,
        `${fake.inThread} session(s) opened in the main thread with InferenceSession.create: onnxruntime-node runs each native run synchronously ` +
          `on the calling thread (not on libuv's pool), so they run one after another and block the event loop; open them in worker threads (openWorker)`,
      ).toBe(0);
    });

    for (const [concurrency, batch] of [
      [1, 8],
      [16, 2],
      [1, 64],
      [16, 64],
    ] as const) {
      it(`never asks for more intra-op threads than cores in total (${concurrency} in flight, batches of ${batch}, ${CORES} cores)`, async () => {
        const fake = countingOrt();
        const pool = await impl.openPool(model, { concurrency, batch, cores: CORES, create: fake.create, openWorker: fake.openWorker });
        await pool.close();
        const total = fake.threads.reduce((a, b) => a + b, 0);
        expect(
          total,
          `${fake.threads.length} sessions × ${fake.threads.join('/')} threads = ${total} intra-op threads on ${CORES} cores ` +
            `(a session left at onnxruntime's default takes one per core): oversubscribed`,
        ).toBeLessThanOrEqual(CORES);
      });
    }

    it(`spreads many small requests across sessions: ≥ ${CORES} sessions for 16 in flight of 2 texts on ${CORES} cores`, async () => {
      const fake = countingOrt();
      const pool = await impl.openPool(model, { concurrency: 16, batch: 2, cores: CORES, create: fake.create, openWorker: fake.openWorker });
      await pool.close();
      expect(
        fake.threads.length,
        `${fake.threads.length} session(s) for 16 concurrent requests of 2 texts on ${CORES} cores: small runs scale across sessions, not across one run's threads`,
      ).toBeGreaterThanOrEqual(CORES);
    });

    it(`gives one big request at a time one wide session: 1 session × ${CORES} threads for batches of 64`, async () => {
      const fake = countingOrt();
      const pool = await impl.openPool(model, { concurrency: 1, batch: 64, cores: CORES, create: fake.create, openWorker: fake.openWorker });
      await pool.close();
      expect(fake.threads, `${fake.threads.length} session(s) × ${fake.threads.join('/')} threads for one request of 64 texts at a time: one session with every core`).toEqual([CORES]);
    });

    it('gives each session one request at a time, queueing the rest in one queue', async () => {
      const fake = countingOrt();
      const pool = await impl.openPool(model, { concurrency: 16, batch: 2, cores: CORES, create: fake.create, openWorker: fake.openWorker });
      try {
        await load(pool, 24);
      } finally {
        await pool.close();
      }
      expect(
        fake.maxPerSession,
        `${fake.maxPerSession} requests at once on one session: a session runs one at a time, so they queue behind each other while another session may sit idle; give each request a free session or let it wait in one queue`,
      ).toBe(1);
      expect(fake.maxInFlight, `${fake.maxInFlight} requests at once on ${fake.threads.length} sessions`).toBeLessThanOrEqual(fake.threads.length);
    });

    it('refuses a load it cannot plan for with a RagError (concurrency 0, batch 1.5)', async () => {
      for (const bad of [{ concurrency: 0, batch: 2 }, { concurrency: 4, batch: 1.5 }]) {
        let err: unknown;
        try {
          await (await impl.openPool(model, { ...bad, cores: CORES, create: countingOrt().create, openWorker: countingOrt().openWorker })).close();
        } catch (e) {
          err = e;
        }
        expect(isRagError(err, 'INVALID_INPUT'), `${JSON.stringify(bad)}: expected a RagError INVALID_INPUT, got ${String(err)}`).toBe(true);
      }
    });
  });
});
