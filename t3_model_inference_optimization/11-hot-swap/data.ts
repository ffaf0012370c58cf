/**
 * What the checkpoint and the benchmark of 11-hot-swap share: models loaded from bytes into a fresh onnxruntime
 * session each time (a real load, a real cold start), wrapped so that what happens to them is counted: warm-up runs,
 * requests served before the warm-up finished ("cold runs"), runs on a released session (failed requests), calls
 * of `release()` and the requests in flight at that moment. Gates hold requests or warm-ups mid-run, so the
 * checkpoint's interleavings are chosen, not timed. A "cold run" is a request run among a fresh session's first
 * WARM_RUNS runs: the runs (arena allocation, kernel choice) a warm-up exists to take.
 *
 * The native session is freed only once it is both released and idle: a wrong solution's early release shows up as
 * failed requests, never as a crash. Texts reach the seeded encoder through lesson 09's `wordIds` tokenizer. Seeded
 * weights: outputs carry no meaning.
 */
import type * as ort from 'onnxruntime-node';
import { openSession, tokenFeeds } from '../../shared/model/session.ts';
import { wordIds, zipfQueryLog } from '../09-inference-cache/data.ts';
import type { EmbedModel, LoadedModel } from './after.ts';

/** Warm-up runs a server is asked for, and the batch each runs. */
export const WARM_RUNS = 3;
export const WARM_TEXTS: string[] = zipfQueryLog({ queries: 1, distinct: 8, seed: 77 }).distinct;

/** The warm-up the servers are given: one run of WARM_TEXTS. */
export const warmUp = (m: EmbedModel): Promise<unknown> => m.embed(WARM_TEXTS);

/** Query texts requests are drawn from. */
export const POOL: string[] = zipfQueryLog({ queries: 1, distinct: 64, seed: 11 }).distinct;

export interface Tracked extends LoadedModel<EmbedModel> {
  readonly version: string;
  /** Calls of release(). */
  releaseCalls: number;
  /** Requests in flight on it at each release() call. */
  inFlightAtRelease: number[];
  /** Requests running on it now. */
  inFlight: number;
  /** Warm-up runs completed. */
  warmRunsDone: number;
  /** True once a warm-up run has started (a test waits for it). */
  warmStarted: boolean;
  /** Runs (warm-up or request) completed on this session. */
  runsDone: number;
  /** Requests run among the session's first WARM_RUNS runs (its cold runs, which a warm-up exists to take). */
  coldServed: number;
  /** Requests answered. */
  served: number;
  /** Requests that failed because the session was released before or during their run. */
  failed: number;
  /** While set, request runs (not warm-ups) wait for it before running. */
  hold: Promise<void> | undefined;
  /** While set, warm-up runs wait for it. */
  warmHold: Promise<void> | undefined;
  /** Make every warm-up run fail. */
  failWarm: boolean;
}

/** A fresh session of `bytes` as model `version`, tracked. `vocab`: the encoder's vocabulary (for `wordIds`). */
export async function loadTracked(bytes: Uint8Array, version: string, vocab: number): Promise<Tracked> {
  const session: ort.InferenceSession = await openSession(bytes);
  let released = false;
  let freed = false;
  const freeIfIdle = async () => {
    if (released && t.inFlight === 0 && !freed) {
      freed = true;
      await session.release();
    }
  };
  const run = async (texts: string[]) => {
    const out = await session.run(tokenFeeds(texts.map((x) => wordIds(x, vocab))));
    const y = out[session.outputNames[0]];
    const data = y.data as Float32Array;
    const dim = data.length / texts.length;
    const rows = texts.map((_, i) => data.slice(i * dim, (i + 1) * dim));
    y.dispose();
    return rows;
  };
  const t: Tracked = {
    version,
    releaseCalls: 0,
    inFlightAtRelease: [],
    inFlight: 0,
    warmRunsDone: 0,
    warmStarted: false,
    runsDone: 0,
    coldServed: 0,
    served: 0,
    failed: 0,
    hold: undefined,
    warmHold: undefined,
    failWarm: false,
    model: {
      async embed(texts: string[]): Promise<Float32Array[]> {
        const warming = texts === WARM_TEXTS;
        if (warming) {
          t.warmStarted = true;
          if (t.warmHold) await t.warmHold;
          if (t.failWarm) throw new Error(`warm-up of ${version} failed`);
        }
        if (released) {
          if (!warming) t.failed++;
          throw new Error(`session ${version} was released`);
        }
        if (!warming && t.runsDone < WARM_RUNS) t.coldServed++;
        t.inFlight++;
        try {
          if (!warming && t.hold) await t.hold;
          const rows = await run(texts);
          t.runsDone++;
          if (released) {
            if (!warming) t.failed++;
            throw new Error(`session ${version} was released while this request ran on it`);
          }
          if (warming) t.warmRunsDone++;
          else t.served++;
          return rows;
        } finally {
          t.inFlight--;
          void freeIfIdle();
        }
      },
    },
    release: async () => {
      t.releaseCalls++;
      t.inFlightAtRelease.push(t.inFlight);
      released = true;
      await freeIfIdle();
    },
  };
  return t;
}

/** The reference rows of `texts` for a model (its own session, one text per run), to check answers against. */
export async function referenceRows(bytes: Uint8Array, vocab: number, texts: string[]): Promise<Map<string, Float32Array>> {
  const m = await loadTracked(bytes, 'reference', vocab);
  m.runsDone = WARM_RUNS;
  const out = new Map<string, Float32Array>();
  for (const x of texts) out.set(x, (await m.model.embed([x]))[0]);
  await m.release();
  return out;
}

/** Largest absolute difference between two rows. */
export function maxDiff(a: Float32Array, b: Float32Array): number {
  let m = a.length === b.length ? 0 : Infinity;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** Which of the reference row sets `row` belongs to (≤ tol), or undefined. */
export function computedBy(row: Float32Array, text: string, refs: Record<string, Map<string, Float32Array>>, tol = 1e-5): string | undefined {
  for (const [v, m] of Object.entries(refs)) if (maxDiff(row, m.get(text)!) <= tol) return v;
  return undefined;
}
