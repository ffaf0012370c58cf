/**
 * EXERCISE 06-gpu — open the encoder on the best execution provider this machine has, and keep it.
 *
 * As shipped it does what most code does: hands onnxruntime the whole preference list (`['cuda', 'cpu']`) in one
 * `executionProviders` and trusts it to fall back. On a machine without the CUDA libraries (this project's CPU
 * build) that throws at `create`, so nothing opens. The checkpoint rejects it.
 *
 * `openEncoderService(model, opts)` gets the ONNX model's bytes and `opts.prefer` (providers in order of preference,
 * default ['cuda', 'cpu']) and returns a service whose `embed(lists)` gives one row per token-id list. Sessions are
 * made with `opts.create` (default `ort.InferenceSession.create`; the checkpoint passes one that behaves like
 * onnxruntime-node without CUDA and counts what it opens). `shared/model/providers.ts` has the pieces:
 * `executionProviderFor`, `sessionOptionsFor`, `ProviderProbe` / `probeFor`, `openBestSession`, `OutputBuffers`.
 *
 * What must hold (checked by `npm run checkpoint -- 06-gpu`):
 *   - with ['cuda', 'cpu'] where CUDA does not load, the service opens on the CPU, `provider` says 'cpu',
 *     `attempts` records why cuda was not used, and exactly one log line names both;
 *   - the rows equal a plain CPU session's within 1e-5;
 *   - 6 requests open the model once (one session, reused);
 *   - 3 services in one process try a provider that failed only once;
 *   - every run is handed a preallocated output tensor [batch, dim] as `fetches`, reused by later runs of that size
 *     (5 runs of 2 sizes one after another: 2 tensors), kept for a bounded number of batch sizes (12 sizes served
 *     twice: at most 8 tensors still held); 3 requests of one size at once each get their own rows;
 *   - CUDA's `deviceId` and the CPU arena / memory-pattern settings reach the session; CUDA options the binding does
 *     not apply are listed in `notApplied`;
 *   - an empty `prefer` is a RagError INVALID_INPUT, a list where nothing opens a RagError UNAVAILABLE naming each
 *     reason and the CUDA install command.
 *
 * Then measure throughput beside before, after and the CPU-setting variants:
 *   npm run t3 -- --only 06-gpu --impl exercise --quick
 * Stuck? npm run hint -- 06-gpu
 */
import { defaultCreate, executionProviderFor, outputRows } from '../../shared/model/providers.ts';
import { tokenFeeds } from '../../shared/model/session.ts';
import type { EncoderService, EncoderServiceOptions } from './data.ts';

export type { EncoderService, EncoderServiceOptions } from './data.ts';

export async function openEncoderService(model: Uint8Array, opts: EncoderServiceOptions = {}): Promise<EncoderService> {
  const prefer = [...(opts.prefer ?? ['cuda', 'cpu'])];
  // TODO: this trusts onnxruntime to fall back within the list. It does not.
  const session = await (opts.create ?? defaultCreate)(model, {
    executionProviders: prefer.map((p) => executionProviderFor(p, opts.cuda)),
    intraOpNumThreads: opts.intraOpNumThreads ?? 1,
  });
  const output = session.outputNames[0];
  return {
    provider: prefer[0],
    attempts: [],
    notApplied: [],
    async embed(lists) {
      if (lists.length === 0) return [];
      const out = await session.run(tokenFeeds(lists));
      return outputRows(out[output], lists.length);
    },
    close: () => session.release(),
  };
}
