/**
 * Checkpoint for 11-hot-swap. `npm run checkpoint -- 11-hot-swap` runs it against exercise.ts; plain
 * `npx vitest run` checks before.ts (stop-release-load: only "serves the model's vectors" applies) and after.ts.
 *
 * The models: a tiny seeded encoder (2 layers, hidden 32) in float32 ("fp32") and with its MatMul weights in int8
 * (lesson 01's `quantizeMatMulWeights`, "int8"), each load a fresh onnxruntime session (data.ts `loadTracked`).
 * Seeded weights: outputs carry no meaning; an answer's vector is checked against the reference output of the
 * version it is tagged with (≤ 1e-5), which the two models' outputs are far apart from.
 *
 * Deterministic: requests and warm-ups are held mid-run by gates, so "a swap while three requests run" is arranged,
 * not hoped for; what is checked is counted: failed requests, release() calls and the requests in flight at each,
 * requests served by a model before its warm-up finished, answers whose tag is not the model that computed them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { implementations } from '../../shared/lab/checkpoint.ts';
import { buildEncoderModel, matmulWeightNames, TINY_ENCODER } from '../../shared/model/encoder.ts';
import { quantizeMatMulWeights } from '../../shared/model/quantize.ts';
import { createEmbedCache } from '../09-inference-cache/after.ts';
import { computedBy, loadTracked, POOL, referenceRows, WARM_RUNS, warmUp, type Tracked } from './data.ts';

type Mod = typeof import('./after.ts');

const VOCAB = TINY_ENCODER.vocab!;
const BYTES: Record<string, Uint8Array> = {};
BYTES.fp32 = buildEncoderModel(TINY_ENCODER);
BYTES.int8 = quantizeMatMulWeights(BYTES.fp32, matmulWeightNames(TINY_ENCODER), { format: 'integer' });
let refs: Record<string, Map<string, Float32Array>>;

beforeAll(async () => {
  refs = { fp32: await referenceRows(BYTES.fp32, VOCAB, POOL), int8: await referenceRows(BYTES.int8, VOCAB, POOL) };
});

function gate(): { wait: Promise<void>; open: () => void } {
  let open!: () => void;
  const wait = new Promise<void>((r) => (open = r));
  return { wait, open };
}
const tick = () => new Promise((r) => setImmediate(r));
async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 10_000 && !cond(); i++) await tick();
  if (!cond()) throw new Error(`timed out waiting for: ${what}`);
}

describe.each(await implementations<Mod>(import.meta.url))('%s', (name, impl) => {
  /** Every model this implementation loaded, in load order. */
  const loads: Tracked[] = [];
  const loader = (version: 'fp32' | 'int8', setup?: (t: Tracked) => void) => async () => {
    const t = await loadTracked(BYTES[version], version, VOCAB);
    setup?.(t);
    loads.push(t);
    return t;
  };
  const opts = { warm: warmUp, warmRuns: WARM_RUNS };
  afterAll(async () => {
    for (const t of loads) if (t.releaseCalls === 0) await t.release();
  });

  it('serves the model’s vectors, tagged with its version', async () => {
    const server = await impl.createModelServer(loader('fp32'), opts);
    for (const text of POOL.slice(0, 8)) {
      const a = await server.embed([text]);
      expect(a.version).toBe('fp32');
      expect(computedBy(a.vectors[0], text, refs), `${JSON.stringify(text)}: not the fp32 model's vector`).toBe('fp32');
    }
    await server.close();
  });

  describe.skipIf(name === 'before')('swapping', () => {
    it('fails no request across 4 swaps under steady load, every answer tagged with the model that computed it', async () => {
      const first = loads.length;
      const server = await impl.createModelServer(loader('fp32'), opts);
      let stop = false;
      let failed = 0;
      let answered = 0;
      const mismatched: string[] = [];
      const client = async (c: number) => {
        for (let i = 0; !stop; i++) {
          const text = POOL[(c * 17 + i) % POOL.length];
          try {
            const a = await server.embed([text]);
            answered++;
            const by = computedBy(a.vectors[0], text, refs);
            if (by !== a.version) mismatched.push(`tagged ${a.version}, computed by ${by ?? 'neither'}`);
          } catch {
            failed++;
            await tick(); // a failure comes back at once: let the swap (and the other clients) run
          }
        }
      };
      const clients = [0, 1, 2, 3].map(client);
      for (const v of ['int8', 'fp32', 'int8', 'fp32'] as const) {
        const before = answered;
        await until(() => answered >= before + 12, 'requests between swaps');
        await server.swap(loader(v));
      }
      const last = answered;
      await until(() => answered >= last + 12, 'requests after the last swap');
      stop = true;
      await Promise.all(clients);
      expect(failed, `${failed} of ${failed + answered} requests failed during 4 swaps under load`).toBe(0);
      expect(mismatched.length, `${mismatched.length} answers tagged with a version that did not compute them (${mismatched[0]}): the request read the slot twice`).toBe(0);
      const swapped = loads.slice(first, first + 4);
      await until(() => swapped.every((t) => t.releaseCalls > 0), 'the replaced models to be released');
      for (const t of swapped) {
        expect(t.releaseCalls, `model ${t.version} (load ${loads.indexOf(t)}): release() called ${t.releaseCalls} times`).toBe(1);
        expect(t.inFlightAtRelease[0], `model ${t.version} released while ${t.inFlightAtRelease[0]} requests were in flight on it`).toBe(0);
      }
      await server.close();
    });

    it('releases the old session exactly once, and only after its in-flight requests end', async () => {
      const g = gate();
      let v1!: Tracked;
      const server = await impl.createModelServer(
        loader('fp32', (t) => (v1 = t)),
        opts,
      );
      v1.hold = g.wait;
      const running = [0, 1, 2].map((i) => server.embed([POOL[i]]).then((a) => a, (err: Error) => err));
      await until(() => v1.inFlight === 3, 'three requests running on fp32');
      await server.swap(loader('int8'));
      expect(server.version).toBe('int8');
      expect(v1.releaseCalls, `the old session was released while ${v1.inFlightAtRelease[0]} requests were in flight on it`).toBe(0);
      g.open();
      const answers = await Promise.all(running);
      const errors = answers.filter((a) => a instanceof Error);
      expect(errors.length, `${errors.length} of 3 requests running on the old model failed after the swap (${(errors[0] as Error | undefined)?.message})`).toBe(0);
      for (const [i, a] of answers.entries()) {
        const ans = a as { version: string; vectors: Float32Array[] };
        expect(ans.version, 'a request that started on fp32 must finish on it').toBe('fp32');
        expect(computedBy(ans.vectors[0], POOL[i], refs)).toBe('fp32');
      }
      await until(() => v1.releaseCalls > 0, 'the old model to be released once its requests ended');
      await tick();
      expect(v1.releaseCalls, `release() called ${v1.releaseCalls} times`).toBe(1);
      expect(v1.inFlightAtRelease, 'released while requests were in flight on it').toEqual([0]);
      await server.close();
    });

    it('serves no request from a model that has not finished its warm-up', async () => {
      const server = await impl.createModelServer(loader('fp32'), opts);
      const warmGate = gate();
      let v2!: Tracked;
      const swapped = server.swap(
        loader('int8', (t) => {
          v2 = t;
          t.warmHold = warmGate.wait;
        }),
      );
      // hold the swap in the new model's warm-up (or, if it serves without one, in the load that just returned)
      await until(() => v2 !== undefined && (v2.warmStarted || v2.served > 0 || server.version === 'int8'), 'the new model loaded');
      const during = await Promise.all(POOL.slice(0, 3).map((t) => server.embed([t])));
      warmGate.open();
      await swapped;
      const cold = v2.coldServed;
      expect(cold, `${cold} requests were served by a model that had not finished its warm-up (cold runs; the swap was held in the warm-up)`).toBe(0);
      expect(during.map((a) => a.version), 'requests during the warm-up are the old model’s').toEqual(['fp32', 'fp32', 'fp32']);
      const after = await server.embed([POOL[5]]);
      expect(after.version).toBe('int8');
      expect(v2.warmRunsDone).toBe(WARM_RUNS);
      await server.close();
    });

    it('finishes each request on the model it started with, and tags it with that model', async () => {
      const g = gate();
      let v1!: Tracked;
      const server = await impl.createModelServer(
        loader('fp32', (t) => (v1 = t)),
        opts,
      );
      v1.hold = g.wait;
      const running = [0, 1].map((i) => server.embed([POOL[i]]));
      await until(() => v1.inFlight === 2, 'two requests running on fp32');
      await server.swap(loader('int8'));
      g.open();
      const answers = await Promise.all(running);
      for (const [i, a] of answers.entries()) {
        const by = computedBy(a.vectors[0], POOL[i], refs);
        expect(a.version, `an answer computed by ${by} is tagged '${a.version}': the request read the slot twice`).toBe(by);
      }
      await server.close();
    });

    it('keeps the old version serving when the new model’s warm-up fails', async () => {
      const server = await impl.createModelServer(loader('fp32'), opts);
      let broken!: Tracked;
      const err = await server.swap(loader('int8', (t) => ((broken = t), (t.failWarm = true)))).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err, 'swap() resolved although the warm-up failed: it must report the error').toBeInstanceOf(Error);
      expect(server.version, 'a failed warm-up replaced the serving model').toBe('fp32');
      const a = await server.embed([POOL[3]]);
      expect(a.version).toBe('fp32');
      expect(computedBy(a.vectors[0], POOL[3], refs)).toBe('fp32');
      expect(broken.served, `the model whose warm-up failed served ${broken.served} requests`).toBe(0);
      expect(broken.releaseCalls, 'the model whose warm-up failed was not released (a leaked session)').toBe(1);
      await server.close();
    });

    it('serialises concurrent swaps: one load at a time, the last one called wins', async () => {
      const server = await impl.createModelServer(loader('fp32'), opts);
      let loading = 0;
      let most = 0;
      const slow = (v: 'fp32' | 'int8') => async () => {
        most = Math.max(most, ++loading);
        try {
          await tick();
          return await loader(v)();
        } finally {
          loading--;
        }
      };
      await Promise.all([server.swap(slow('int8')), server.swap(slow('fp32')), server.swap(slow('int8'))]);
      expect(most, `${most} model loads ran at once: concurrent swaps must be serialised`).toBe(1);
      expect(server.version).toBe('int8');
      await server.close();
    });

    it('with lesson 09’s cache: no answer after a swap is the old model’s cached vector', async () => {
      const cache = createEmbedCache({ maxBytes: 1 << 20 });
      const server = await impl.createModelServer(loader('fp32'), { ...opts, cache });
      for (const t of POOL.slice(0, 10)) await server.embed([t]);
      await server.swap(loader('int8'));
      for (const t of [...POOL.slice(0, 10), ...POOL.slice(0, 10)]) {
        const a = await server.embed([t]);
        const by = computedBy(a.vectors[0], t, refs);
        expect(`${a.version}/${by}`, `${JSON.stringify(t)} after the swap: tagged ${a.version}, computed by ${by}`).toBe('int8/int8');
      }
      expect(cache.stats.memoryHits, 'the cache was not used').toBeGreaterThan(0);
      await server.close();
    });
  });
});
