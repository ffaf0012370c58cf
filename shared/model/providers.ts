/**
 * Choosing onnxruntime's execution provider (CUDA, DirectML, CPU...) by probing, with a fallback, instead of
 * hard-coding one (lesson t3/06-gpu).
 *
 * What onnxruntime-node 1.30 does (read from its binding, `js/node/src/session_options_helper.cc`, and measured on
 * the CPU build this project installs):
 *
 *   - `executionProviders` is NOT a fallback list. Every name in it is appended to the session options, and one that
 *     cannot load makes `InferenceSession.create` throw: `['cuda', 'cpu']` without the CUDA libraries fails with
 *     "OrtSessionOptionsAppendExecutionProvider_Cuda: Failed to load shared library" (onnxruntime prints its own
 *     E-level line about libonnxruntime_providers_shared.so to stderr as well). A name the build does not know fails
 *     with "no available backend found. ERR: [dml] backend not found". The CPU provider is always added last for the
 *     nodes the others cannot run, so the list is about *which devices run nodes*, not *which to try*.
 *   - `listSupportedBackends()` lists what the binding was compiled for (`cpu`, `webgpu`, `cuda`, `tensorrt` on
 *     linux/x64), with `bundled: false` for providers whose libraries are not in the npm package: it does not say
 *     whether they are installed. Only creating a session tells.
 *   - For `cuda` the binding reads `deviceId` and nothing else (no gpu_mem_limit, arena_extend_strategy or
 *     cudnn_conv_algo_search); the other CUDA options below are accepted, reported as not applied, and documented so
 *     a later binding can pass them.
 *   - `enableCpuMemArena` and `enableMemPattern` are read (both default on in onnxruntime).
 *   - Preallocated outputs (`session.run(feeds, { name: tensor })`): onnxruntime writes into the tensor's buffer,
 *     but the binding copies the result into a new ArrayBuffer for the returned tensor, so on the CPU the saving is
 *     onnxruntime's own output allocation, not the copy. A preallocated shape that does not match the run's output
 *     shape fails the run ("has shape {4,32} but the computed output shape for this run is {8,32}").
 *
 * So: probe each provider once per process with a one-node model (`ProviderProbe`), then open the real model on the
 * first provider that probed available (`openBestSession`), falling to the next on failure, and say which one was
 * used and why the others were not. Install for an NVIDIA GPU: `ONNXRUNTIME_NODE_INSTALL=cuda12 npm rebuild
 * onnxruntime-node` (`CUDA_INSTALL_COMMAND`).
 *
 *     const best = await openBestSession(modelBytes, { prefer: ['cuda', 'cpu'], log: console.log });
 *     // "execution provider: cpu (cuda unavailable: OrtSessionOptionsAppendExecutionProvider_Cuda: Failed to load …)"
 *     best.provider; // 'cpu'
 *     best.attempts; // [{ provider: 'cuda', ok: false, reason: '…', cached: false }, { provider: 'cpu', ok: true, … }]
 */
import * as ort from 'onnxruntime-node';
import { RagError } from '../errors.ts';
import { GraphBuilder } from './onnx-build.ts';

/** What a GPU user runs once to get the CUDA provider's libraries into node_modules (CUDA 12, cuDNN 9). */
export const CUDA_INSTALL_COMMAND = 'ONNXRUNTIME_NODE_INSTALL=cuda12 npm rebuild onnxruntime-node';

/** Creates a session; `ort.InferenceSession.create` by default (tests pass a counting or failing one). */
export type CreateSession = (bytes: Uint8Array, options: ort.InferenceSession.SessionOptions) => Promise<ort.InferenceSession>;

export const defaultCreate: CreateSession = (bytes, options) => ort.InferenceSession.create(bytes, options);

/** CUDA provider options. onnxruntime-node 1.30 applies `deviceId` only; the rest are reported in `notApplied`. */
export interface CudaOptions {
  /** GPU index. Default 0. */
  deviceId?: number;
  /** Bytes the CUDA arena may take (onnxruntime: gpu_mem_limit). Not applied by onnxruntime-node 1.30. */
  gpuMemLimit?: number;
  /** How the CUDA arena grows (arena_extend_strategy). Not applied by onnxruntime-node 1.30. */
  arenaExtendStrategy?: 'kNextPowerOfTwo' | 'kSameAsRequested';
  /** cuDNN convolution algorithm search (cudnn_conv_algo_search). Not applied by onnxruntime-node 1.30. */
  cudnnConvAlgoSearch?: 'EXHAUSTIVE' | 'HEURISTIC' | 'DEFAULT';
}

/** CPU memory settings (session options, used whichever provider runs the nodes). */
export interface CpuOptions {
  /**
   * onnxruntime's arena for CPU tensors: intermediate tensors are carved from large blocks it keeps, instead of one
   * malloc/free per tensor per run. Default true.
   */
  enableCpuMemArena?: boolean;
  /**
   * Memory pattern: after a run with given input shapes, onnxruntime plans every intermediate tensor's offset in one
   * block and reuses the plan while the shapes repeat. Needs sequential execution. Default true.
   */
  enableMemPattern?: boolean;
}

export interface OpenOptions {
  /** Providers in order of preference, e.g. ['cuda', 'cpu']: the first that opens is used. */
  prefer: readonly string[];
  /** Intra-op threads. Default 1 (figures comparable between runs). */
  intraOpNumThreads?: number;
  cuda?: CudaOptions;
  cpu?: CpuOptions;
  /** Graph optimisation level. Default 'all'. */
  graphOptimizationLevel?: 'disabled' | 'basic' | 'extended' | 'all';
  /** The probe (and with it the session factory) to use. Default: the process's probe over `defaultCreate`. */
  probe?: ProviderProbe;
  /** Where the one line saying which provider was chosen, and why the others were not, goes. Default: nowhere. */
  log?: (line: string) => void;
}

/** One provider tried, in `prefer` order. */
export interface ProviderAttempt {
  provider: string;
  ok: boolean;
  /** Why it was not used (the error's first line), when `ok` is false. */
  reason?: string;
  /** The failure came from the probe's memory, not from a new attempt. */
  cached: boolean;
}

export interface BestSession {
  session: ort.InferenceSession;
  provider: string;
  attempts: ProviderAttempt[];
  /** Options given that this binding does not apply (e.g. 'cuda.gpuMemLimit'). */
  notApplied: string[];
  /** The session options the model was opened with. */
  options: ort.InferenceSession.SessionOptions;
  /** The log line (also sent to `log`). */
  line: string;
}

const CUDA_NOT_APPLIED = ['gpuMemLimit', 'arenaExtendStrategy', 'cudnnConvAlgoSearch'] as const;

/** The `executionProviders` entry for one provider: `{ name: 'cuda', deviceId }` for CUDA, the name otherwise. */
export function executionProviderFor(name: string, cuda: CudaOptions = {}): ort.InferenceSession.ExecutionProviderConfig {
  if (name === 'cuda') return { name: 'cuda', deviceId: cuda.deviceId ?? 0 };
  return name;
}

/** Session options for one provider (alone in `executionProviders`: that is the only way to tell whether it opens). */
export function sessionOptionsFor(provider: string, opts: Omit<OpenOptions, 'prefer' | 'probe' | 'log'> = {}): ort.InferenceSession.SessionOptions {
  const threads = opts.intraOpNumThreads ?? 1;
  if (!Number.isInteger(threads) || threads < 0) throw new RagError('INVALID_INPUT', `sessionOptionsFor: intraOpNumThreads must be an integer ≥ 0, got ${threads}`);
  return {
    executionProviders: [executionProviderFor(provider, opts.cuda)],
    graphOptimizationLevel: opts.graphOptimizationLevel ?? 'all',
    intraOpNumThreads: threads,
    executionMode: 'sequential',
    enableCpuMemArena: opts.cpu?.enableCpuMemArena ?? true,
    enableMemPattern: opts.cpu?.enableMemPattern ?? true,
  };
}

/** The first line of an error's message (onnxruntime's messages can run to several). */
export function firstLine(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return msg.split('\n').find((l) => l.trim() !== '')?.trim() ?? msg;
}

let probeModel: Uint8Array | undefined;
/** A one-node model (Identity on a float32 [1]) to probe providers with: opening it costs about a millisecond. */
export function probeModelBytes(): Uint8Array {
  if (!probeModel) {
    const g = new GraphBuilder('provider-probe');
    const x = g.input('x', 'float32', [1]);
    const y = g.op('Identity', [x]);
    g.output(y, 'float32', [1]);
    probeModel = g.toBytes();
  }
  return probeModel;
}

/**
 * Remembers, per provider, whether a session opens with it, found by opening a one-node model once. A provider whose
 * libraries are missing stays missing for the life of the process, so one attempt per provider is enough; asking
 * again for every model or every request only repeats the failure (and onnxruntime's error line on stderr).
 */
export class ProviderProbe {
  private readonly known = new Map<string, { ok: boolean; reason?: string }>();
  /** Sessions `create` was asked for, per provider (probe and real models alike). */
  readonly calls = new Map<string, number>();

  constructor(readonly create: CreateSession = defaultCreate) {}

  /** Open through this probe's factory, counting the call under `provider`. */
  async open(provider: string, bytes: Uint8Array, options: ort.InferenceSession.SessionOptions): Promise<ort.InferenceSession> {
    this.calls.set(provider, (this.calls.get(provider) ?? 0) + 1);
    return this.create(bytes, options);
  }

  /** Whether `provider` opens a session in this process; `cached` when it was known already. */
  async check(provider: string, cuda?: CudaOptions): Promise<{ ok: boolean; reason?: string; cached: boolean }> {
    const key = provider === 'cuda' ? `cuda:${cuda?.deviceId ?? 0}` : provider;
    const seen = this.known.get(key);
    if (seen) return { ...seen, cached: true };
    let result: { ok: boolean; reason?: string };
    try {
      const s = await this.open(provider, probeModelBytes(), { executionProviders: [executionProviderFor(provider, cuda)] });
      await s.release();
      result = { ok: true };
    } catch (err) {
      result = { ok: false, reason: firstLine(err) };
    }
    this.known.set(key, result);
    return { ...result, cached: false };
  }

  /** What is known so far: provider (CUDA as `cuda:<deviceId>`) → available, or the reason it is not. */
  snapshot(): Record<string, { ok: boolean; reason?: string }> {
    return Object.fromEntries(this.known);
  }
}

const probes = new WeakMap<CreateSession, ProviderProbe>();
/** The process's probe for a session factory (one per factory, so a test's fake factory has its own memory). */
export function probeFor(create: CreateSession = defaultCreate): ProviderProbe {
  let p = probes.get(create);
  if (!p) {
    p = new ProviderProbe(create);
    probes.set(create, p);
  }
  return p;
}

/** The providers this onnxruntime-node build was compiled for (`listSupportedBackends`), with `bundled` as it says. */
export function compiledProviders(): Array<{ name: string; bundled: boolean }> {
  const list = (ort as unknown as { listSupportedBackends?: () => Array<{ name: string; bundled: boolean }> }).listSupportedBackends;
  return typeof list === 'function' ? list() : [{ name: 'cpu', bundled: true }];
}

/**
 * Open `bytes` on the first provider of `opts.prefer` that works: each provider is probed once per process
 * (`ProviderProbe`), the model is then opened with that provider alone in `executionProviders`, and a failure there
 * (out of GPU memory, say) falls to the next. Logs one line naming the provider used and why each earlier one was
 * not. RagError INVALID_INPUT for an empty or repeated `prefer`, UNAVAILABLE when no provider opens.
 */
export async function openBestSession(bytes: Uint8Array, opts: OpenOptions): Promise<BestSession> {
  const prefer = [...opts.prefer];
  if (prefer.length === 0) throw new RagError('INVALID_INPUT', 'openBestSession: prefer is empty; name at least one provider, e.g. [\'cuda\', \'cpu\']');
  const bad = prefer.find((p) => typeof p !== 'string' || p.trim() === '');
  if (bad !== undefined) throw new RagError('INVALID_INPUT', `openBestSession: provider names must be non-empty strings, got ${JSON.stringify(bad)}`);
  const dup = prefer.find((p, i) => prefer.indexOf(p) !== i);
  if (dup) throw new RagError('INVALID_INPUT', `openBestSession: '${dup}' is named twice in prefer ${JSON.stringify(prefer)}`);
  const probe = opts.probe ?? probeFor();
  const attempts: ProviderAttempt[] = [];
  for (const provider of prefer) {
    const checked = await probe.check(provider, opts.cuda);
    if (!checked.ok) {
      attempts.push({ provider, ok: false, reason: checked.reason, cached: checked.cached });
      continue;
    }
    const options = sessionOptionsFor(provider, opts);
    let session: ort.InferenceSession;
    try {
      session = await probe.open(provider, bytes, options);
    } catch (err) {
      attempts.push({ provider, ok: false, reason: firstLine(err), cached: false });
      continue;
    }
    attempts.push({ provider, ok: true, cached: false });
    const notApplied = provider === 'cuda' ? CUDA_NOT_APPLIED.filter((k) => opts.cuda?.[k] !== undefined).map((k) => `cuda.${k}`) : [];
    const line = describeChoice(provider, attempts, notApplied);
    opts.log?.(line);
    return { session, provider, attempts, notApplied, options, line };
  }
  const why = attempts.map((a) => `${a.provider}: ${a.reason}`).join('; ');
  const hint = prefer.includes('cuda') ? ` (for CUDA: ${CUDA_INSTALL_COMMAND})` : '';
  throw new RagError('UNAVAILABLE', `openBestSession: no execution provider of ${JSON.stringify(prefer)} opened the model: ${why}${hint}`);
}

function describeChoice(provider: string, attempts: ProviderAttempt[], notApplied: string[]): string {
  const failed = attempts.filter((a) => !a.ok);
  let line = `execution provider: ${provider}`;
  if (failed.length > 0) {
    line += ` (${failed.map((a) => `${a.provider} unavailable${a.cached ? ', probed earlier' : ''}: ${a.reason}`).join('; ')})`;
    if (failed.some((a) => a.provider === 'cuda')) line += `; for CUDA run: ${CUDA_INSTALL_COMMAND}`;
  }
  if (notApplied.length > 0) line += `; not applied by onnxruntime-node ${ort.env.versions.node ?? ''}: ${notApplied.join(', ')}`;
  return line;
}

/**
 * Output tensors allocated once per output shape and handed to `session.run` as fetches, so onnxruntime writes into
 * them instead of allocating its own output per run. `acquire(batch)` gives `{ fetches: { [output]: Tensor [batch,
 * dim] }, release }`: a tensor is lent to one run at a time, so concurrent callers of one batch size get one tensor
 * each, and a released tensor is lent again. (Within one thread onnxruntime-node runs one session's calls one after
 * the other and copies each result into a new ArrayBuffer for the returned tensor, so a shared tensor would not mix
 * rows there; lending keeps it right for a session in a worker thread or a binding that returns the fetch itself.
 * Read the rows from what `run` returns.) Keeps free tensors for at most `maxShapes` batch sizes (least recently used dropped), since a tensor per
 * batch size ever seen is a leak under varied load.
 */
export class OutputBuffers {
  private readonly free = new Map<number, ort.Tensor[]>();
  /** Tensors allocated so far (a deterministic cost the checkpoint counts). */
  allocated = 0;

  constructor(
    readonly output: string,
    readonly dim: number,
    readonly maxShapes = 8,
  ) {
    if (!Number.isInteger(dim) || dim <= 0) throw new RagError('INVALID_INPUT', `OutputBuffers: dim must be a positive integer, got ${dim}`);
  }

  acquire(batch: number): { fetches: Record<string, ort.Tensor>; release: () => void } {
    if (!Number.isInteger(batch) || batch <= 0) throw new RagError('INVALID_INPUT', `OutputBuffers: batch must be a positive integer, got ${batch}`);
    const list = this.free.get(batch);
    let t = list?.pop();
    if (!t) {
      t = new ort.Tensor('float32', new Float32Array(batch * this.dim), [batch, this.dim]);
      this.allocated++;
    }
    const tensor = t;
    let released = false;
    return {
      fetches: { [this.output]: tensor },
      release: () => {
        if (released) return;
        released = true;
        const l = this.free.get(batch) ?? [];
        this.free.delete(batch); // re-insert at the back: most recently used
        l.push(tensor);
        this.free.set(batch, l);
        if (this.free.size > this.maxShapes) this.free.delete(this.free.keys().next().value!);
      },
    };
  }
}

/** The last dimension of a session's first output when the model declares it as a number (e.g. 384), else undefined. */
export function outputDim(session: ort.InferenceSession): number | undefined {
  const meta = session.outputMetadata?.[0] as { isTensor?: boolean; shape?: readonly (number | string)[] } | undefined;
  const last = meta?.isTensor ? meta.shape?.[meta.shape.length - 1] : undefined;
  return typeof last === 'number' && last > 0 ? last : undefined;
}

/** The rows of a [batch, dim] float32 output, each copied out (the tensor may be a reused output buffer). */
export function outputRows(y: ort.Tensor, batch: number): Float32Array[] {
  const data = y.data as Float32Array;
  if (batch <= 0 || data.length % batch !== 0) throw new RagError('INVALID_INPUT', `outputRows: ${data.length} values do not split into ${batch} rows`);
  const dim = data.length / batch;
  return Array.from({ length: batch }, (_, r) => data.slice(r * dim, (r + 1) * dim));
}
