/**
 * The engine's served ONNX model (served-model.ts) on a tiny model folder: the same rows as the model alone; queries
 * waiting while a run is in progress share the next run; a hot-swap to the model's int8 form under a steady load
 * fails no request, tags every row with the version that computed it, and releases the old session; a swap to a
 * model of another dimension is refused and the old one keeps serving; an expired deadline leaves the queue before
 * the model sees it; a full queue refuses with 'OVERLOADED'.
 */
import { copyFile, mkdtemp, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isRagError } from '../errors.ts';
import { CachingEmbedder } from '../serve/cache.ts';
import { buildEncoderModel, matmulWeightNames } from './encoder.ts';
import { loadModelDir } from './model-dir.ts';
import { quantizeMatMulWeights } from './quantize.ts';
import { modelVersion, ServedModel } from './served-model.ts';
import { ENCODER, writeTinyModelDir } from './tiny-model-dir.ts';

let root: string;
let fp32Dir: string;
let int8Dir: string;
let wideDir: string;
let heavyDir: string;
const TEXTS = ['the quick red fish', 'a blue train at night', 'learn to read a book', 'the small bird sang to the moon over the green tree'];

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'served-model-'));
  fp32Dir = await writeTinyModelDir(join(root, 'fp32'), { maxLength: 64 });
  int8Dir = join(root, 'int8');
  await mkdir(int8Dir);
  await writeFile(join(int8Dir, 'model.onnx'), quantizeMatMulWeights(await readFile(join(fp32Dir, 'model.onnx')), matmulWeightNames(ENCODER)));
  await copyFile(join(fp32Dir, 'tokenizer.json'), join(int8Dir, 'tokenizer.json'));
  wideDir = join(root, 'wide');
  await mkdir(wideDir);
  await writeFile(join(wideDir, 'model.onnx'), buildEncoderModel({ ...ENCODER, hidden: 48, heads: 3 }));
  await copyFile(join(fp32Dir, 'tokenizer.json'), join(wideDir, 'tokenizer.json'));
  // runs long enough (tens of ms) for a stalled event loop to show
  heavyDir = join(root, 'heavy');
  await mkdir(heavyDir);
  await writeFile(join(heavyDir, 'model.onnx'), buildEncoderModel({ ...ENCODER, layers: 4, hidden: 256, heads: 4, ffn: 1024, maxPositions: 128 }));
  await copyFile(join(fp32Dir, 'tokenizer.json'), join(heavyDir, 'tokenizer.json'));
});
afterAll(async () => {
  if (root) await rm(root, { recursive: true, force: true });
});

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

describe('ServedModel', () => {
  it('gives the rows of the model alone, versioned by the SHA-256 of model.onnx', async () => {
    const served = await ServedModel.open(fp32Dir);
    const plain = await loadModelDir(fp32Dir, { intraOpNumThreads: 1 });
    try {
      expect(served.name).toBe('onnx:fp32');
      expect(served.version).toBe(modelVersion(await readFile(join(fp32Dir, 'model.onnx'))));
      const a = await served.embed(TEXTS);
      const b = await plain.embed(TEXTS);
      for (let i = 0; i < TEXTS.length; i++) for (let j = 0; j < a[i].length; j++) expect(Math.abs(a[i][j] - b[i][j])).toBeLessThan(1e-6);
      // queries that arrive together wait for one run and share the next: fewer runs than queries
      const before = served.stats().queue.runs.interactive;
      const rows = await Promise.all(Array.from({ length: 40 }, (_, i) => served.embed([TEXTS[i % 4]])));
      const runs = served.stats().queue.runs.interactive - before;
      expect(runs, `${runs} runs for 40 concurrent queries`).toBeLessThanOrEqual(4);
      for (const [i, [r]] of rows.entries()) for (let j = 0; j < r.length; j++) expect(Math.abs(r[j] - b[i % 4][j])).toBeLessThan(1e-6);
    } finally {
      await served.close();
      await plain.release();
    }
  });

  it('hot-swaps to the int8 model under load: no failed request, each row from the version that says so', async () => {
    const served = await ServedModel.open(fp32Dir);
    const fp32 = await loadModelDir(fp32Dir, { intraOpNumThreads: 1 });
    const int8 = await loadModelDir(int8Dir, { intraOpNumThreads: 1 });
    const want = { [modelVersion(await readFile(join(fp32Dir, 'model.onnx')))]: await fp32.embed(TEXTS), [modelVersion(await readFile(join(int8Dir, 'model.onnx')))]: await int8.embed(TEXTS) };
    const seen = new Map<string, number>();
    let failed = 0;
    let stop = false;
    const client = async (c: number) => {
      for (let i = c; !stop; i += 3) {
        try {
          const [r] = await served.embedVersioned([TEXTS[i % 4]]);
          seen.set(r.version, (seen.get(r.version) ?? 0) + 1);
          const expected = want[r.version][i % 4];
          for (let j = 0; j < expected.length; j++) expect(Math.abs(r.row[j] - expected[j]), `version ${r.version}`).toBeLessThan(1e-6);
        } catch (err) {
          failed++;
          throw err;
        }
      }
    };
    const clients = [0, 1, 2].map(client);
    await new Promise((r) => setTimeout(r, 50));
    const report = await served.swap(int8Dir);
    await new Promise((r) => setTimeout(r, 50));
    stop = true;
    await Promise.all(clients);
    await report.released;
    expect(failed).toBe(0);
    expect(report.to).toBe(served.version);
    expect([...seen.keys()].sort()).toEqual([report.from, report.to].sort());
    // the same file again, and a model of another width: refused, the int8 model keeps serving
    expect(isRagError(await rejection(served.swap(int8Dir)), 'INVALID_INPUT')).toBe(true);
    const wide = await rejection(served.swap(wideDir));
    expect(isRagError(wide, 'INVALID_INPUT')).toBe(true);
    expect(String(wide)).toMatch(/48-d model; onnx:fp32 and its index are 32-d/);
    expect(served.version).toBe(report.to);
    expect(served.stats()).toMatchObject({ swaps: 1, failedSwaps: 2 });
    await served.close();
    await fp32.release();
    await int8.release();
  });

  it('behind the caching embedder: a vector is cached under the version that computed it, so a swap never serves the old one', async () => {
    const served = await ServedModel.open(fp32Dir);
    const cached = new CachingEmbedder(served);
    const int8 = await loadModelDir(int8Dir, { intraOpNumThreads: 1 });
    try {
      const [a] = await cached.embed([TEXTS[0]]);
      const [again] = await cached.embed([TEXTS[0]]);
      expect([...again]).toEqual([...a]);
      expect(cached.size).toBe(1);
      await served.swap(int8Dir);
      const [b] = await cached.embed([TEXTS[0]]);
      const [want] = await int8.embed([TEXTS[0]]);
      for (let j = 0; j < b.length; j++) expect(Math.abs(b[j] - want[j])).toBeLessThan(1e-6);
      expect(cached.size, 'the new version has its own entry').toBe(2);
    } finally {
      await served.close();
      await int8.release();
    }
  });

  it("runs the model in a worker thread: the server's event loop keeps turning during a long ingest embed", async () => {
    const served = await ServedModel.open(heavyDir);
    const inThread = await ServedModel.open(heavyDir, { worker: false });
    const long = Array.from({ length: 64 }, (_, i) => `${TEXTS[i % 4]} ${TEXTS[(i + 1) % 4]} ${TEXTS[(i + 2) % 4]} the old stone house by the river ${i}`);
    const longestGap = async (m: ServedModel) => {
      let last = performance.now();
      let gap = 0;
      const timer = setInterval(() => {
        const now = performance.now();
        gap = Math.max(gap, now - last);
        last = now;
      }, 1);
      const t0 = performance.now();
      await m.embed(long, { priority: 'bulk' });
      const ms = performance.now() - t0;
      clearInterval(timer);
      return { gap, ms, runs: m.stats().queue.runs.bulk };
    };
    try {
      const w = await longestGap(served);
      const t = await longestGap(inThread);
      // the same runs (16 passages each); in the thread each run stalls the loop for its whole length, in a worker not
      expect(w.runs).toBe(t.runs);
      expect(w.gap, `longest stall ${w.gap.toFixed(1)} ms with the worker, ${t.gap.toFixed(1)} ms in the thread`).toBeLessThan(t.gap / 2);
    } finally {
      await served.close();
      await inThread.close();
    }
  });

  it('drops a query whose deadline passes while it waits, and refuses beyond the bound', async () => {
    const served = await ServedModel.open(fp32Dir, { queue: { maxQueued: { interactive: 2, bulk: 4 }, maxBatch: { interactive: 1, bulk: 1 } } });
    try {
      const busy = served.embed(TEXTS, { priority: 'bulk' }); // four runs of one passage ahead of everything
      const expired = served.embed(['late'], { signal: AbortSignal.abort(new DOMException('deadline', 'TimeoutError')) });
      const err = await rejection(expired);
      expect(isRagError(err, 'DEADLINE_EXCEEDED'), String(err)).toBe(true);
      const waiting = [served.embed(['a']), served.embed(['b'])];
      const over = await rejection(served.embed(['c']));
      expect(isRagError(over, 'OVERLOADED'), String(over)).toBe(true);
      await Promise.all([busy, ...waiting]);
      const q = served.stats().queue;
      expect(q.timedOut.interactive).toBe(1);
      expect(q.shed.interactive).toBe(1);
      expect(q.itemsRun.interactive, 'the expired and the refused query never reached the model').toBe(2);
    } finally {
      await served.close();
    }
  });
});
