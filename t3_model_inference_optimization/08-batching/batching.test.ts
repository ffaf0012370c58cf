/**
 * Checkpoint for 08-batching. `npm run checkpoint -- 08-batching` runs it against exercise.ts; plain `npx vitest run`
 * checks before.ts (one run per request: the tests about grouping are skipped for it, by design it never groups) and
 * after.ts (dynamic batching with length buckets and a token budget).
 *
 * Nothing is timed. The batch function is a fake that records every batch it is called with (which items, and when
 * on vitest's fake clock), and the costs are counted from those records: batches, requests per batch, and padded
 * tokens (requests × the longest request of a batch, what a padded run computes). The last two tests run real models
 * and check that a batched row equals the row of the same text run alone: a tiny encoder (shared/model/encoder.ts,
 * seeded weights: its outputs carry no meaning), and the engine's static SIF graph (shared/model/static-sif.ts) built
 * from a seeded word table of 3,000 words (the graph the bench runs on GloVe, without loading GloVe here).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { implementations } from '../../shared/lab/checkpoint.ts';
import { SifEmbedder } from '../../shared/embed/sif.ts';
import { buildEncoderModel, TINY_ENCODER } from '../../shared/model/encoder.ts';
import { openSession } from '../../shared/model/session.ts';
import { buildStaticSifModel } from '../../shared/model/static-sif.ts';
import { mulberry32 } from '../../shared/util/random.ts';
import { mixedLengths, mixedTexts, sessionRunBatch } from './data.ts';

type Mod = typeof import('./after.ts');

/** A request of the fake model: an id (its row is `row <id>`) and a token count. */
interface Req {
  id: number;
  tokens: number;
}

/** A batch function that records every batch (items and fake-clock time) and answers `row <id>` for each item. */
function recorder(fail?: (batch: Req[]) => boolean) {
  const batches: Req[][] = [];
  const at: number[] = [];
  const run = async (items: Req[]) => {
    batches.push([...items]);
    at.push(Date.now());
    if (fail?.(items)) throw new Error(`model run failed on a batch of ${items.length}`);
    return items.map((r) => `row ${r.id}`);
  };
  return { batches, at, run };
}

const padded = (b: Req[]) => b.length * Math.max(1, ...b.map((r) => Math.max(1, r.tokens)));
const sizes = (batches: Req[][]) =>
  batches.length === 0 ? 'nothing' : batches.slice(0, 8).map((b) => b.length).join(' + ') + (batches.length > 8 ? ` + … (${batches.length} calls)` : '');
const settleAll = <T>(ps: Promise<T>[]) => Promise.allSettled(ps);

/**
 * Watches promises without awaiting them: after the fake clock moved on, `settled()` says which have settled. A batcher
 * that never starts a partial batch then fails with a count instead of hanging the test until its timeout.
 */
function watch<T>(ps: Promise<T>[]) {
  const results: Array<PromiseSettledResult<T> | undefined> = ps.map(() => undefined);
  ps.forEach((p, i) => p.then((value) => (results[i] = { status: 'fulfilled', value }), (reason: unknown) => (results[i] = { status: 'rejected', reason })));
  return {
    results,
    /** Every result, after checking that all settled; `what` names the situation in the failure message. */
    all(what: string): PromiseSettledResult<T>[] {
      const open = results.filter((r) => r === undefined).length;
      expect(open, `${open} of ${ps.length} requests were still waiting ${what}: a batch that does not fill must start on a timer`).toBe(0);
      return results as PromiseSettledResult<T>[];
    },
  };
}

/** `p`, or a failure naming `what` once `ms` of real time passed (for the real-encoder test, which runs on the real clock). */
async function within<T>(ms: number, p: Promise<T>, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} after ${ms} ms: a batch that does not fill must start on a timer`)), ms);
  });
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

afterEach(() => {
  vi.useRealTimers();
});

type RowRun = import('./after.ts').RunBatch<number[], Float32Array>;

/**
 * Runs `texts` through `impl`'s embedder over `run`, all at once, and checks each row against the row of its text run
 * alone (one run of one list), component by component within 1e-5.
 */
async function expectRowsAsAlone(impl: Mod, run: RowRun, texts: number[][], unit: string): Promise<void> {
  const alone: Float32Array[] = [];
  for (const t of texts) alone.push((await run([t]))[0]);
  const e = impl.createEmbedder(run, { maxBatch: 16, maxWaitMs: 1, maxTokens: 512 });
  const got = await within(3_000, Promise.all(texts.map((t) => e.embed(t))), `the ${texts.length} requests were still waiting`);
  await e.close();
  let worst = 0;
  let at = -1;
  got.forEach((row, i) => {
    for (let j = 0; j < row.length; j++) {
      const d = Math.abs(row[j] - alone[i][j]);
      if (d > worst) [worst, at] = [d, i];
    }
  });
  expect(worst, `request ${at} (${texts[at]?.length} ${unit}): its row differs from the text run alone by ${worst.toExponential(2)} (allowed 1e-5)`).toBeLessThanOrEqual(1e-5);
}

/**
 * The static SIF model of a seeded word table: `count` words w0…w(count−1) (rank = frequency order) with seeded
 * 100-d vectors, SIF weights from their ranks, fitted (principal component removed) on seeded sentences.
 */
async function seededStaticModel(count = 3_000): Promise<{ bytes: Uint8Array; rows: number }> {
  const rand = mulberry32(808);
  const dim = 100;
  const words = Array.from({ length: count }, (_, i) => `w${i}`);
  const vectors = Float32Array.from({ length: count * dim }, () => rand() * 2 - 1);
  const sif = new SifEmbedder({ dim, count, words, index: new Map(words.map((w, i) => [w, i])), vectors });
  const sentences = Array.from({ length: 200 }, () => Array.from({ length: 5 + Math.floor(rand() * 20) }, () => words[Math.floor(count * rand() ** 2)]).join(' '));
  await sif.fit(sentences);
  const model = buildStaticSifModel(sif);
  return { bytes: model.bytes, rows: model.vocab.rows };
}

describe.each(await implementations<Mod>(import.meta.url))('%s', (name, impl) => {
  const grouping = name === 'before' ? it.skip : it;

  it('gives every caller the row of its own request (300 mixed-length requests, made together and in a trickle)', async () => {
    vi.useFakeTimers();
    const { batches, run } = recorder();
    const e = impl.createEmbedder(run, { maxBatch: 16, maxWaitMs: 2, maxTokens: 1024 });
    const lengths = mixedLengths(300, 1, 128, 3);
    const calls: Promise<string>[] = [];
    for (let i = 0; i < lengths.length; i++) {
      calls.push(e.embed({ id: i, tokens: lengths[i] }));
      if (i % 37 === 36) await vi.advanceTimersByTimeAsync(1); // some arrive while others wait
    }
    const w = watch(calls);
    await vi.advanceTimersByTimeAsync(100);
    const got = w.all('100 ms after the last arrived');
    const wrong = got.map((r, i) => (r.status === 'fulfilled' && r.value === `row ${i}` ? '' : `request ${i} (${lengths[i]} tokens) got ${r.status === 'fulfilled' ? `the row of request ${r.value.slice(4)}` : String(r.reason)}`)).filter(Boolean);
    expect(
      wrong.length,
      `${wrong.length} of 300 callers got another caller's row or an error: ${wrong.slice(0, 3).join('; ')}. ` +
        'Rows must go back to the caller of their own item: a batch sorted by length is no longer in arrival order',
    ).toBe(0);
    const seen = batches.flat().map((r) => r.id).sort((a, b) => a - b);
    expect(seen, `the model saw ${seen.length} items for 300 requests`).toEqual(Array.from({ length: 300 }, (_, i) => i));
    await e.close();
  });

  it('never runs a batch over maxBatch requests or the padded-token budget (a text longer than the budget runs alone)', async () => {
    vi.useFakeTimers();
    const { batches, run } = recorder();
    const e = impl.createEmbedder(run, { maxBatch: 16, maxWaitMs: 2, maxTokens: 512 });
    const lengths = [...mixedLengths(200, 8, 128, 5), 700];
    const w = watch(lengths.map((tokens, id) => e.embed({ id, tokens })));
    await vi.advanceTimersByTimeAsync(100);
    for (const b of batches) {
      expect(b.length, `a batch carried ${b.length} requests, more than maxBatch (16)`).toBeLessThanOrEqual(16);
      if (b.length > 1) {
        const longest = Math.max(...b.map((r) => r.tokens));
        expect(
          padded(b),
          `a batch of ${b.length} requests padded to its longest (${longest} tokens) is ${padded(b)} padded tokens, over the 512-token budget: ` +
            'without a budget one long text makes every short text in its batch pay for its padding, and the run takes as long as all of them',
        ).toBeLessThanOrEqual(512);
      }
    }
    w.all('100 ms after they arrived');
    expect(batches.flat().length).toBe(lengths.length);
    await e.close();
  });

  it('serves a lone request within maxWaitMs: it does not wait for company that never comes (fake clock)', async () => {
    vi.useFakeTimers();
    const { batches, run } = recorder();
    const e = impl.createEmbedder(run, { maxBatch: 8, maxWaitMs: 5 });
    const done: string[] = [];
    void e.embed({ id: 7, tokens: 12 }).then((r) => done.push(r), () => {});
    await vi.advanceTimersByTimeAsync(5);
    const at5 = done.length;
    await vi.advanceTimersByTimeAsync(10_000);
    expect(
      at5,
      `a lone request was still waiting 5 ms after it arrived (maxWaitMs 5, maxBatch 8)${done.length ? '' : ', and still 10 s later'}; ` +
        `calls of the model so far: ${batches.length}. A batch that does not fill must start on a timer, or at low load a request waits until others happen to come`,
    ).toBe(1);
    expect(done).toEqual(['row 7']);
    await e.close();
  });

  grouping('lets requests that arrive within maxWaitMs share one run, started maxWaitMs after the first', async () => {
    vi.useFakeTimers();
    const { batches, at, run } = recorder();
    const t0 = Date.now();
    const e = impl.createEmbedder(run, { maxBatch: 8, maxWaitMs: 5 });
    void e.embed({ id: 1, tokens: 20 }).catch(() => {});
    await vi.advanceTimersByTimeAsync(3);
    void e.embed({ id: 2, tokens: 22 }).catch(() => {});
    await vi.advanceTimersByTimeAsync(20);
    expect(batches.map((b) => b.map((r) => r.id)), `2 requests of similar length 3 ms apart (maxWaitMs 5) ran as ${sizes(batches)}: they should share one run`).toEqual([[1, 2]]);
    expect(at[0] - t0, `the shared run started ${at[0] - t0} ms after the first request, want maxWaitMs (5): the wait is counted from the FIRST request`).toBe(5);
    await e.close();
  });

  grouping('groups 64 requests made together into few runs, at once when a batch is full', async () => {
    vi.useFakeTimers();
    const { batches, run } = recorder();
    const e = impl.createEmbedder(run, { maxBatch: 16, maxWaitMs: 1_000, maxTokens: 100_000 });
    const w = watch(Array.from({ length: 64 }, (_, id) => e.embed({ id, tokens: 30 })));
    await vi.advanceTimersByTimeAsync(0);
    expect(
      batches.length,
      `64 requests of 30 tokens made together ran as ${batches.length} calls of the model (${sizes(batches)}) before any timer: ` +
        'want 4 full batches of 16 at once. One run per request pays the per-run cost 64 times',
    ).toBe(4);
    w.all('once their 4 full batches could run');
    await e.close();
  });

  it('keeps padding small on a mixed-length set: length buckets, not one first-come batch padded to its longest', async () => {
    vi.useFakeTimers();
    const { batches, run } = recorder();
    const e = impl.createEmbedder(run, { maxBatch: 32, maxWaitMs: 2, maxTokens: 100_000 });
    const lengths = mixedLengths(128, 8, 128, 11);
    const w = watch(lengths.map((tokens, id) => e.embed({ id, tokens })));
    await vi.advanceTimersByTimeAsync(100);
    w.all('100 ms after they arrived');
    const real = lengths.reduce((a, b) => a + b, 0);
    const pad = batches.reduce((s, b) => s + padded(b), 0);
    let fifo = 0; // the same requests in first-come batches of 32
    for (let i = 0; i < lengths.length; i += 32) fifo += padded(lengths.slice(i, i + 32).map((tokens) => ({ id: 0, tokens })));
    expect(
      pad / real,
      `the 128 requests (${real} tokens) ran as ${batches.length} batches padded to ${pad} tokens, ${(pad / real).toFixed(2)}× their real tokens ` +
        `(first-come batches of 32 padded to their longest: ${fifo}, ${(fifo / real).toFixed(2)}×). Padded tokens are computed like real ones: ` +
        'batch requests of similar length together (length buckets), allowed at most 1.3×',
    ).toBeLessThanOrEqual(1.3);
    await e.close();
  });

  grouping('drops a request aborted while it waits: it rejects with an AbortError and its place goes to the next request', async () => {
    vi.useFakeTimers();
    const { batches, run } = recorder();
    const e = impl.createEmbedder(run, { maxBatch: 4, maxWaitMs: 1_000 });
    const ac = new AbortController();
    const a = e.embed({ id: 1, tokens: 10 });
    const b = e.embed({ id: 2, tokens: 10 }, { signal: ac.signal });
    const bw = watch([b]);
    await vi.advanceTimersByTimeAsync(1);
    ac.abort();
    await vi.advanceTimersByTimeAsync(0);
    const [bResult] = bw.all('after its signal aborted (maxWaitMs 1000): an aborted request must reject at once, and');
    expect(bResult.status === 'rejected' && (bResult.reason as Error).name, 'a request aborted while it waited must reject with an AbortError').toBe('AbortError');
    const rest = [3, 4, 5].map((id) => e.embed({ id, tokens: 10 }));
    await vi.advanceTimersByTimeAsync(0);
    expect(
      batches.map((x) => x.map((r) => r.id)),
      `after request 2 was aborted and 3 more came (maxBatch 4), the model ran ${JSON.stringify(batches.map((x) => x.map((r) => r.id)))}: ` +
        'want [[1,3,4,5]] at once. An aborted request must leave the queue, so it neither runs nor holds a place in a batch',
    ).toEqual([[1, 3, 4, 5]]);
    const w = watch([a, ...rest]);
    await vi.advanceTimersByTimeAsync(0);
    expect(w.all('once their full batch could run').map((r) => (r.status === 'fulfilled' ? r.value : r.reason))).toEqual(['row 1', 'row 3', 'row 4', 'row 5']);
    await e.close();
  });

  it('rejects a request whose signal is already aborted with an AbortError, without running it', async () => {
    const { batches, run } = recorder();
    const e = impl.createEmbedder(run, { maxWaitMs: 1 });
    const ac = new AbortController();
    ac.abort();
    await expect(e.embed({ id: 1, tokens: 5 }, { signal: ac.signal })).rejects.toMatchObject({ name: 'AbortError' });
    await e.close();
    expect(batches.length, 'an aborted request reached the model').toBe(0);
  });

  it("rejects exactly the requests of a failing run with its error; the other runs' callers get their rows, and it keeps serving", async () => {
    vi.useFakeTimers();
    const { batches, run } = recorder((b) => b.some((r) => r.id === 2));
    const e = impl.createEmbedder(run, { maxBatch: 2, maxWaitMs: 1 });
    const w = watch([1, 2, 3, 4, 5].map((id) => e.embed({ id, tokens: 10 })));
    await vi.advanceTimersByTimeAsync(5);
    const got = w.all('5 ms after they arrived (maxWaitMs 1)');
    const failedBatch = batches.find((b) => b.some((r) => r.id === 2))!.map((r) => r.id);
    got.forEach((r, i) => {
      const id = i + 1;
      if (failedBatch.includes(id)) expect(r.status, `request ${id} ran in the failed run ${JSON.stringify(failedBatch)}: its caller must get that run's error`).toBe('rejected');
      else expect(r, `request ${id} ran in a run that succeeded: another run's failure must not reach it`).toEqual({ status: 'fulfilled', value: `row ${id}` });
    });
    const later = watch([e.embed({ id: 9, tokens: 3 })]);
    await vi.advanceTimersByTimeAsync(5);
    expect(later.all('5 ms after it arrived'), 'after a failed run the embedder must keep serving').toEqual([{ status: 'fulfilled', value: 'row 9' }]);
    await e.close();
  });

  it('close() serves what waits without waiting for company, then refuses new requests', async () => {
    const { run } = recorder();
    const e = impl.createEmbedder(run, { maxBatch: 100, maxWaitMs: 60_000 });
    const p = settleAll([e.embed({ id: 4, tokens: 3 })]);
    await e.close();
    expect(await p).toEqual([{ status: 'fulfilled', value: 'row 4' }]);
    await expect(e.embed({ id: 5, tokens: 3 })).rejects.toThrow(/closed/);
  });

  describe('on a real tiny encoder (seeded weights: outputs carry no meaning)', () => {
    let session: Awaited<ReturnType<typeof openSession>>;
    beforeAll(async () => {
      session = await openSession(buildEncoderModel(TINY_ENCODER));
    });

    it('returns, for 96 concurrent mixed-length requests, the rows each text gets run alone (within 1e-5)', async () => {
      await expectRowsAsAlone(impl, sessionRunBatch(session), mixedTexts(96, 1000, 1, 60, 21), 'tokens');
    });
  });

  describe("on the engine's static SIF graph (a seeded table of 3,000 words)", () => {
    let session: Awaited<ReturnType<typeof openSession>>;
    let rows = 0;
    beforeAll(async () => {
      const model = await seededStaticModel();
      rows = model.rows;
      session = await openSession(model.bytes);
    });
    afterAll(() => session?.release());

    it('returns, for 96 concurrent requests of 0-60 word ids, the rows each text gets run alone (within 1e-5)', async () => {
      // two texts with no known word (no ids): the zero row, batched or not
      const texts = [...mixedTexts(94, rows, 1, 60, 23), [], []];
      texts.splice(40, 0, texts.pop()!);
      await expectRowsAsAlone(impl, sessionRunBatch(session), texts, 'ids');
    });
  });
});
