/**
 * What the lesson's files share: the service's interface (after.ts, before.ts, exercise.ts and wrong/ implement it),
 * whether this process has the CUDA provider, and the line
 * both print when it does not. (Provider probing and the fallback itself: shared/model/providers.ts.)
 *
 * The seeded encoder runs here: its outputs carry no meaning; outputs are compared with a plain CPU session's.
 */
import { CUDA_INSTALL_COMMAND, probeFor, type CpuOptions, type CreateSession, type CudaOptions, type ProviderAttempt } from '../../shared/model/providers.ts';

/** Why the GPU rows and the GPU test are skipped on a build without the CUDA provider. */
export const GPU_SKIP = `skipped: no CUDA provider in this build (${CUDA_INSTALL_COMMAND})`;

/** undefined when a CUDA session opens in this process, else the reason (probed once per process). */
export async function cudaUnavailable(): Promise<string | undefined> {
  const r = await probeFor().check('cuda');
  return r.ok ? undefined : `${GPU_SKIP}; onnxruntime said: ${r.reason}`;
}

export interface EncoderServiceOptions {
  /** Providers in order of preference. Default ['cuda', 'cpu']. */
  prefer?: readonly string[];
  /** Intra-op threads. Default 1. */
  intraOpNumThreads?: number;
  cuda?: CudaOptions;
  cpu?: CpuOptions;
  /** Write each run's output into a tensor preallocated per batch size. Default true. */
  preallocateOutputs?: boolean;
  /** The session factory. Default `ort.InferenceSession.create` (the checkpoint passes a counting one). */
  create?: CreateSession;
  /** Where the line naming the chosen provider goes. Default: nowhere. */
  log?: (line: string) => void;
}

export interface EncoderService {
  /** The provider the model runs on. */
  readonly provider: string;
  /** Every provider tried, in order, with why it was not used. */
  readonly attempts: readonly ProviderAttempt[];
  /** Options given that onnxruntime-node does not apply (e.g. 'cuda.gpuMemLimit'). */
  readonly notApplied: readonly string[];
  /** One row per token-id list (one `run` per call). */
  embed(lists: number[][]): Promise<Float32Array[]>;
  close(): Promise<void>;
}
