/**
 * providers.ts: the probe remembers per provider, `openBestSession` falls back in order and says why, refuses bad
 * lists with a RagError, and the output buffers are one per batch size (bounded). A stand-in session factory plays
 * onnxruntime-node without CUDA (any list naming 'cuda' throws, as the real CPU build does); one test uses the real
 * onnxruntime with ['cuda', 'cpu'] and expects whatever this build has.
 */
import { describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import { isRagError } from '../errors.ts';
import { buildEncoderModel, TINY_ENCODER } from './encoder.ts';
import {
  compiledProviders,
  CUDA_INSTALL_COMMAND,
  executionProviderFor,
  firstLine,
  openBestSession,
  OutputBuffers,
  outputDim,
  outputRows,
  probeFor,
  ProviderProbe,
  sessionOptionsFor,
  type CreateSession,
} from './providers.ts';

const model = buildEncoderModel(TINY_ENCODER);

function fake(available: string[]) {
  const seen: string[][] = [];
  const create: CreateSession = async (bytes, options) => {
    const names = (options.executionProviders ?? []).map((e) => (typeof e === 'string' ? e : e.name));
    seen.push(names);
    const missing = names.find((n) => !available.includes(n));
    if (missing === 'cuda') throw new Error('OrtSessionOptionsAppendExecutionProvider_Cuda: Failed to load shared library\nsecond line');
    if (missing) throw new Error(`no available backend found. ERR: [${missing}] backend not found.`);
    return ort.InferenceSession.create(bytes, { ...options, executionProviders: ['cpu'] });
  };
  return { create, seen };
}

async function rejects(p: Promise<unknown>, code: string, message: RegExp): Promise<void> {
  let err: unknown;
  try {
    await p;
  } catch (e) {
    err = e;
  }
  expect(isRagError(err, code), String(err)).toBe(true);
  expect((err as Error).message).toMatch(message);
}

describe('openBestSession', () => {
  it('falls back in order, records each reason (first line only) and logs one line with the CUDA install command', async () => {
    const f = fake(['cpu']);
    const lines: string[] = [];
    const best = await openBestSession(model, { prefer: ['cuda', 'dml', 'cpu'], probe: new ProviderProbe(f.create), log: (l) => lines.push(l) });
    expect(best.provider).toBe('cpu');
    expect(best.attempts.map((a) => [a.provider, a.ok])).toEqual([['cuda', false], ['dml', false], ['cpu', true]]);
    expect(best.attempts[0].reason).toBe('OrtSessionOptionsAppendExecutionProvider_Cuda: Failed to load shared library');
    expect(lines).toEqual([best.line]);
    expect(best.line).toContain('execution provider: cpu');
    expect(best.line).toContain('dml unavailable');
    expect(best.line).toContain(CUDA_INSTALL_COMMAND);
    // each provider alone in its list: never ['cuda', 'cpu'] together
    expect(f.seen.every((names) => names.length === 1)).toBe(true);
    await best.session.release();
  });

  it('probes each provider once per probe: later opens take the failure from memory', async () => {
    const f = fake(['cpu']);
    const probe = new ProviderProbe(f.create);
    for (let i = 0; i < 3; i++) {
      const best = await openBestSession(model, { prefer: ['cuda', 'cpu'], probe });
      expect(best.attempts[0].cached).toBe(i > 0);
      await best.session.release();
    }
    expect(probe.calls.get('cuda')).toBe(1);
    expect(probe.calls.get('cpu')).toBe(4); // one probe + three models
    expect(probe.snapshot()['cuda:0']).toEqual({ ok: false, reason: 'OrtSessionOptionsAppendExecutionProvider_Cuda: Failed to load shared library' });
  });

  it('keeps one probe per session factory (probeFor)', () => {
    const a = fake(['cpu']).create;
    expect(probeFor(a)).toBe(probeFor(a));
    expect(probeFor(a)).not.toBe(probeFor(fake(['cpu']).create));
  });

  it('falls to the next provider when the model itself fails on a provider that probed fine', async () => {
    const calls: string[] = [];
    const create: CreateSession = async (bytes, options) => {
      const name = String(executionNames(options)[0]);
      calls.push(name);
      if (name === 'cuda' && bytes === model) throw new Error('CUDA failure 2: out of memory');
      return ort.InferenceSession.create(bytes, { ...options, executionProviders: ['cpu'] });
    };
    const best = await openBestSession(model, { prefer: ['cuda', 'cpu'], probe: new ProviderProbe(create) });
    expect(best.provider).toBe('cpu');
    expect(best.attempts[0]).toMatchObject({ provider: 'cuda', ok: false, reason: 'CUDA failure 2: out of memory', cached: false });
    await best.session.release();
  });

  it('passes deviceId and the CPU settings, and names the CUDA options this binding does not apply', async () => {
    const f = fake(['cuda', 'cpu']);
    const best = await openBestSession(model, {
      prefer: ['cuda'],
      probe: new ProviderProbe(f.create),
      cuda: { deviceId: 2, gpuMemLimit: 1 << 30, arenaExtendStrategy: 'kSameAsRequested', cudnnConvAlgoSearch: 'HEURISTIC' },
      cpu: { enableCpuMemArena: false },
      intraOpNumThreads: 2,
    });
    expect(best.options).toMatchObject({ executionProviders: [{ name: 'cuda', deviceId: 2 }], enableCpuMemArena: false, enableMemPattern: true, intraOpNumThreads: 2 });
    expect(best.notApplied).toEqual(['cuda.gpuMemLimit', 'cuda.arenaExtendStrategy', 'cuda.cudnnConvAlgoSearch']);
    expect(best.line).toContain('not applied');
    await best.session.release();
  });

  it('refuses an empty, blank or repeated list (INVALID_INPUT) and a list where nothing opens (UNAVAILABLE)', async () => {
    const probe = new ProviderProbe(fake(['cpu']).create);
    await rejects(openBestSession(model, { prefer: [], probe }), 'INVALID_INPUT', /prefer is empty/);
    await rejects(openBestSession(model, { prefer: [' '], probe }), 'INVALID_INPUT', /non-empty strings/);
    await rejects(openBestSession(model, { prefer: ['cpu', 'cpu'], probe }), 'INVALID_INPUT', /'cpu' is named twice/);
    await rejects(openBestSession(model, { prefer: ['cuda', 'dml'], probe }), 'UNAVAILABLE', /cuda: .*Failed to load.*; dml: .*backend not found.*npm rebuild onnxruntime-node/);
    await rejects(openBestSession(model, { prefer: ['cpu'], probe, intraOpNumThreads: -1 }), 'INVALID_INPUT', /intraOpNumThreads/);
  });

  it('with the real onnxruntime, [cuda, cpu] opens on whatever this build has and runs', async () => {
    const best = await openBestSession(model, { prefer: ['cuda', 'cpu'] });
    const cudaOk = (await probeFor().check('cuda')).ok;
    expect(best.provider).toBe(cudaOk ? 'cuda' : 'cpu');
    expect(compiledProviders().some((p) => p.name === 'cpu')).toBe(true);
    await best.session.release();
  });
});

function executionNames(options: ort.InferenceSession.SessionOptions): string[] {
  return (options.executionProviders ?? []).map((e) => (typeof e === 'string' ? e : e.name));
}

describe('helpers', () => {
  it('executionProviderFor / sessionOptionsFor: CUDA as an object with its device, the rest by name, defaults on', () => {
    expect(executionProviderFor('cuda')).toEqual({ name: 'cuda', deviceId: 0 });
    expect(executionProviderFor('cpu')).toBe('cpu');
    expect(sessionOptionsFor('cpu')).toMatchObject({ executionProviders: ['cpu'], intraOpNumThreads: 1, enableCpuMemArena: true, enableMemPattern: true, executionMode: 'sequential' });
    expect(firstLine(new Error('\n  one\ntwo'))).toBe('one');
  });

  it('OutputBuffers: a tensor per batch size lent to one run at a time, reused once released, at most maxShapes kept', () => {
    const b = new OutputBuffers('y', 4, 2);
    const a = b.acquire(1);
    const c = b.acquire(1); // asked while `a` is out: a second tensor
    expect(c.fetches.y).not.toBe(a.fetches.y);
    a.release();
    c.release();
    a.release(); // twice: no effect
    const x = b.acquire(1);
    expect([a.fetches.y, c.fetches.y]).toContain(x.fetches.y); // reused, not allocated
    expect(b.allocated).toBe(2);
    expect(b.acquire(3).fetches.y.dims).toEqual([3, 4]);
    b.acquire(5).release();
    b.acquire(6).release(); // free tensors for 3 batch sizes, maxShapes 2: batch 1's (least recently used) dropped
    const again = b.acquire(1);
    expect([a.fetches.y, c.fetches.y]).not.toContain(again.fetches.y);
    expect(b.allocated).toBe(6);
    expect(() => new OutputBuffers('y', 0)).toThrow(/dim must be a positive integer/);
    expect(() => b.acquire(0)).toThrow(/batch must be a positive integer/);
  });

  it('outputDim reads the declared width; outputRows copies rows out and refuses a bad split', async () => {
    const s = await ort.InferenceSession.create(model, { executionProviders: ['cpu'] });
    expect(outputDim(s)).toBe(TINY_ENCODER.hidden);
    await s.release();
    const t = new ort.Tensor('float32', Float32Array.from([1, 2, 3, 4, 5, 6]), [2, 3]);
    const rows = outputRows(t, 2);
    expect(rows.map((r) => Array.from(r))).toEqual([[1, 2, 3], [4, 5, 6]]);
    (t.data as Float32Array)[0] = 9;
    expect(rows[0][0]).toBe(1);
    expect(() => outputRows(t, 4)).toThrow(/do not split into 4 rows/);
  });
});
