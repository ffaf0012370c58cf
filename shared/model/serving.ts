/**
 * Which embedder the engine runs, chosen on the command line of `npm run index` and `npm run serve`:
 *
 *     --embedder sif                     the default: SIF-weighted GloVe-100d (shared/embed/sif.ts), no model file
 *     --embedder sif-int8                the same with its word table in int8, one scale per row (T3 lesson 01):
 *                                        35.5 MB for every row instead of 137 MB, Cranfield nDCG@10 kept
 *     --embedder onnx --model <dir>      a folder with model.onnx + tokenizer.json (a sentence-transformers export,
 *                                        shared/model/model-dir.ts), run by onnxruntime-node
 *     --model-threads N                  intra-op threads of one ONNX run (default 1: a serving process runs one
 *                                        model per worker, and workers × threads should not exceed the cores)
 *
 * An index remembers its embedder's name (`onnx:<folder name>` for a model folder) and dimension; serving it with
 * another embedder fails at load with a message naming both.
 */
import { createDefaultEmbedder } from '../embed/sif.ts';
import { RagError } from '../errors.ts';
import type { Embedder } from '../types.ts';
import { loadModelDir } from './model-dir.ts';
import { ServedModel } from './served-model.ts';

export type EmbedderChoice = { kind: 'sif'; precision?: 'float32' | 'int8' } | { kind: 'onnx'; model: string; threads: number };

export const EMBEDDER_USAGE = `  --embedder E             sif (default: SIF-weighted GloVe-100d, bundled), sif-int8 (its word table in int8:
                           a quarter of the memory, same quality) or onnx (a model folder, --model)
  --model <dir>            with --embedder onnx: a folder with model.onnx and tokenizer.json (a
                           sentence-transformers export such as all-MiniLM-L6-v2)
  --model-threads N        with --embedder onnx: intra-op threads of one model run (default 1)`;

export const EMBEDDER_FLAGS = {
  embedder: { type: 'string' },
  model: { type: 'string' },
  'model-threads': { type: 'string' },
} as const;

/** The choice from parsed flags; RagError INVALID_INPUT (a usage mistake) on a bad combination. */
export function embedderChoice(values: { embedder?: string; model?: string; 'model-threads'?: string }): EmbedderChoice {
  const kind = values.embedder ?? (values.model !== undefined ? 'onnx' : 'sif');
  if (kind === 'sif' || kind === 'sif-int8') {
    if (values.model !== undefined) throw new RagError('INVALID_INPUT', `--model needs --embedder onnx (the ${kind} embedder has no model folder)`);
    if (values['model-threads'] !== undefined) throw new RagError('INVALID_INPUT', '--model-threads needs --embedder onnx');
    return kind === 'sif' ? { kind: 'sif' } : { kind: 'sif', precision: 'int8' };
  }
  if (kind !== 'onnx') throw new RagError('INVALID_INPUT', `--embedder must be sif, sif-int8 or onnx, got "${kind}"`);
  if (!values.model) throw new RagError('INVALID_INPUT', '--embedder onnx needs --model <dir> (a folder with model.onnx and tokenizer.json)');
  const t = values['model-threads'] === undefined ? 1 : Number(values['model-threads']);
  if (!Number.isInteger(t) || t < 1 || t > 256) throw new RagError('INVALID_INPUT', `--model-threads must be an integer from 1 to 256, got "${values['model-threads']}"`);
  return { kind: 'onnx', model: values.model, threads: t };
}

/**
 * The embedder a choice names, loaded. `serve`: an ONNX model as a served model (served-model.ts: the admission queue
 * with priorities, bounds and deadlines, dynamic batching, hot-swap); otherwise the plain model (index builds, eval).
 */
export async function createEmbedder(choice: EmbedderChoice, opts: { cacheDir?: string; log?: (m: string) => void; serve?: boolean } = {}): Promise<Embedder> {
  if (choice.kind === 'sif') return createDefaultEmbedder({ cacheDir: opts.cacheDir, log: opts.log, precision: choice.precision });
  opts.log?.(`loading the ONNX model in ${choice.model}`);
  if (opts.serve) return ServedModel.open(choice.model, { intraOpNumThreads: choice.threads });
  return loadModelDir(choice.model, { intraOpNumThreads: choice.threads });
}

/** The served ONNX model behind an embedder (itself, or the one a caching embedder wraps), if it is one. */
export function servedModelOf(embedder: Embedder | undefined): ServedModel | undefined {
  for (let e: unknown = embedder; e; e = (e as { inner?: unknown }).inner) if (e instanceof ServedModel) return e;
  return undefined;
}
