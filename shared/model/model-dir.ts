import * as ort from 'onnxruntime-node';
import { readFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { RagError } from '../errors.ts';
import type { Embedder } from '../types.ts';
import { packTokenBatch, tokenBudgetRuns } from './onnx-embedder.ts';
import { SessionWorker } from './session-worker.ts';
import { loadTokenizer, type TextTokenizer } from './tokenizer.ts';

/**
 * "Bring your own model": a folder with `model.onnx` and `tokenizer.json`, as a sentence-transformers model exported
 * to ONNX (all-MiniLM-L6-v2 and its kind), becomes an engine `Embedder`.
 *
 * Two export shapes are common, and both are taken:
 *   - `sentence_embedding` [batch, dim]: pooling (and normalisation) inside the graph, as `encoder.ts` builds it and
 *     sentence-transformers' own ONNX export writes it;
 *   - `last_hidden_state` or `token_embeddings` [batch, seq, dim]: the bare transformer, as Hugging Face Optimum
 *     exports it (the `onnx/model.onnx` of the Hub's all-MiniLM-L6-v2). Then sentence-transformers' Pooling (mean over
 *     the tokens the mask keeps) and Normalize are done here in TypeScript, on the same float32 rows.
 * Every row is L2-normalised at the end (a no-op, to float32 rounding, on a graph that already normalises), so the
 * engine's dot-product search is a cosine whichever shape the folder holds.
 *
 * Inputs: `input_ids` and `attention_mask` (int64 [batch, seq]) are required; `token_type_ids`, when the model has it
 * (BERT exports do), gets zeros: one segment, as sentence-transformers feeds it.
 */

export interface ModelDirOptions {
  /** Longest token sequence, [CLS]/[SEP] included. Default: the folder's `sentence_bert_config.json` `max_seq_length`, else `tokenizer.json`'s truncation, else 256. */
  maxLength?: number;
  /** Embedder name (index metadata). Default `onnx:<folder name>`. */
  name?: string;
  /** Threads one run may use (onnxruntime's intra-op pool). Default: onnxruntime's choice. */
  intraOpNumThreads?: number;
  /** Padded tokens (texts × longest) per run before a batch is split, as `OnnxEmbedder`. Default 65,536. */
  maxTokens?: number;
  /** The bytes of `<dir>/model.onnx` when the caller has read them already. Default: read here. */
  bytes?: Uint8Array;
  /**
   * Run the session in a worker thread (session-worker.ts) instead of this one. onnxruntime-node's `run` is
   * synchronous on the calling thread: in-thread, a run blocks the event loop for its whole duration (no timer, no
   * request read); in a worker, the caller's thread stays free and only tokenising and pooling run here. Default
   * false (one thread, no copy of rows between threads).
   */
  worker?: boolean;
}

/** What the embedder needs of a session: names, one run returning one float32 output, release. */
interface Runner {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  run(feeds: Record<string, { data: BigInt64Array; dims: number[] }>, output: string): Promise<{ type: string; dims: readonly number[]; data: Float32Array }>;
  release(): Promise<void>;
}

function inThreadRunner(session: ort.InferenceSession): Runner {
  return {
    inputNames: session.inputNames,
    outputNames: session.outputNames,
    async run(feeds, output) {
      const tensors: Record<string, ort.Tensor> = {};
      for (const [k, v] of Object.entries(feeds)) tensors[k] = new ort.Tensor('int64', v.data, v.dims);
      const y = (await session.run(tensors, [output]))[output];
      try {
        return { type: y.type, dims: y.dims, data: y.type === 'float32' ? Float32Array.from(y.data as Float32Array) : new Float32Array(0) };
      } finally {
        y.dispose();
      }
    },
    release: () => session.release(),
  };
}

function workerRunner(w: SessionWorker): Runner {
  return {
    inputNames: w.inputNames,
    outputNames: w.outputNames,
    async run(feeds, output) {
      const out = (await w.run(feeds, { transfer: true }))[output];
      return { type: out.type, dims: out.dims, data: out.type === 'float32' ? (out.data as Float32Array) : new Float32Array(0) };
    },
    release: () => w.close(),
  };
}

/** Output names tried in order: pooled first, then per-token states to pool here. */
export const POOLED_OUTPUT = 'sentence_embedding';
export const TOKEN_OUTPUTS = ['last_hidden_state', 'token_embeddings'] as const;

/** Load `<dir>/model.onnx` + `<dir>/tokenizer.json` as an Embedder. Throws RagError NOT_FOUND / CORRUPT / INVALID_INPUT. */
export async function loadModelDir(dir: string, opts: ModelDirOptions = {}): Promise<ModelDirEmbedder> {
  const name = opts.name ?? `onnx:${basename(resolve(dir))}`;
  const t = opts.intraOpNumThreads;
  if (t !== undefined && (!Number.isInteger(t) || t < 1)) throw new RagError('INVALID_INPUT', `${name}: intraOpNumThreads must be a positive integer, got ${t}`);
  if (opts.maxTokens !== undefined && !(opts.maxTokens >= 1)) throw new RagError('INVALID_INPUT', `${name}: maxTokens must be >= 1, got ${opts.maxTokens}`);

  const modelFile = join(dir, 'model.onnx');
  let bytes: Uint8Array;
  try {
    bytes = opts.bytes ?? (await readFile(modelFile));
  } catch (err) {
    throw new RagError('NOT_FOUND', `${name}: cannot read ${modelFile} (a model folder holds model.onnx and tokenizer.json): ${(err as Error).message}`);
  }
  const tokenizer = await loadTokenizer(join(dir, 'tokenizer.json'), { maxLength: opts.maxLength ?? (await sentenceBertMaxLength(dir, name)) });

  let runner: Runner;
  try {
    if (opts.worker) {
      runner = workerRunner(await SessionWorker.open(bytes, { intraOpNumThreads: t ?? 0, name }));
    } else {
      const session = await ort.InferenceSession.create(bytes, {
        executionProviders: ['cpu'],
        graphOptimizationLevel: 'all',
        ...(t !== undefined ? { intraOpNumThreads: t } : {}),
        executionMode: 'sequential',
      });
      for (const m of session.inputMetadata) {
        if (m.isTensor && m.type !== 'int64') {
          await session.release();
          throw new RagError('INVALID_INPUT', `${name}: input '${m.name}' is ${m.type}; expected int64 token ids`);
        }
      }
      runner = inThreadRunner(session);
    }
  } catch (err) {
    if (err instanceof RagError) throw err;
    throw new RagError('CORRUPT', `${name}: onnxruntime could not load ${modelFile}: ${(err as Error).message}`);
  }
  try {
    return await ModelDirEmbedder.create(runner, tokenizer, name, opts.maxTokens ?? 65_536);
  } catch (err) {
    await runner.release();
    throw err;
  }
}

/** sentence-transformers keeps its truncation length in `sentence_bert_config.json`, beside the model; optional. */
async function sentenceBertMaxLength(dir: string, name: string): Promise<number | undefined> {
  let text: string;
  try {
    text = await readFile(join(dir, 'sentence_bert_config.json'), 'utf8');
  } catch {
    return undefined;
  }
  try {
    const v = (JSON.parse(text) as { max_seq_length?: unknown }).max_seq_length;
    return typeof v === 'number' ? v : undefined;
  } catch (err) {
    throw new RagError('CORRUPT', `${name}: sentence_bert_config.json is not JSON: ${(err as Error).message}`);
  }
}

type Pooling = 'graph' | 'mean';

export class ModelDirEmbedder implements Embedder {
  private constructor(
    readonly name: string,
    readonly dim: number,
    /** The tokenizer (its `maxLength` is the truncation applied). */
    readonly tokenizer: TextTokenizer,
    /** The model output read, and whether pooling happens in the graph or here. */
    readonly output: { name: string; pooling: Pooling },
    private readonly session: Runner,
    private readonly typeIds: boolean,
    private readonly maxTokens: number,
  ) {}

  /** Check the model's inputs and outputs, and learn `dim` from one run on the empty text. */
  static async create(session: Runner, tokenizer: TextTokenizer, name: string, maxTokens: number): Promise<ModelDirEmbedder> {
    const inputs = session.inputNames;
    for (const n of ['input_ids', 'attention_mask']) {
      if (!inputs.includes(n)) throw new RagError('INVALID_INPUT', `${name}: the model has no input '${n}' (it has ${inputs.join(', ')}); expected a sentence-transformers export`);
    }
    const typeIds = inputs.includes('token_type_ids');
    const extra = inputs.filter((n) => n !== 'input_ids' && n !== 'attention_mask' && n !== 'token_type_ids');
    if (extra.length > 0) throw new RagError('INVALID_INPUT', `${name}: the model needs inputs this loader cannot feed: ${extra.join(', ')}`);
    const outs = session.outputNames;
    let output: { name: string; pooling: Pooling };
    if (outs.includes(POOLED_OUTPUT)) output = { name: POOLED_OUTPUT, pooling: 'graph' };
    else {
      const tokenOut = TOKEN_OUTPUTS.find((n) => outs.includes(n));
      if (!tokenOut) {
        throw new RagError('INVALID_INPUT', `${name}: the model has none of the outputs ${[POOLED_OUTPUT, ...TOKEN_OUTPUTS].join(', ')} (it has ${outs.join(', ')})`);
      }
      output = { name: tokenOut, pooling: 'mean' };
    }
    // the probe: [CLS] [SEP] through the model tells the width and rejects a shape this class cannot pool
    const e = new ModelDirEmbedder(name, 0, tokenizer, output, session, typeIds, maxTokens);
    const probe = await e.runRaw([tokenizer.encode('')]);
    return new ModelDirEmbedder(name, probe.dim, tokenizer, output, session, typeIds, maxTokens);
  }

  async embed(texts: string[]): Promise<Float32Array[]> {
    const lists = texts.map((t) => this.tokenizer.encode(t));
    const rows: Float32Array[] = new Array(texts.length);
    // runs of at most maxTokens padded tokens, as OnnxEmbedder (a text longer than that runs alone)
    for (const [start, end] of tokenBudgetRuns(lists, this.maxTokens)) {
      const { data, dim } = await this.runRaw(lists.slice(start, end));
      for (let i = start; i < end; i++) rows[i] = normalise(data.subarray((i - start) * dim, (i - start + 1) * dim));
    }
    return rows;
  }

  /** One run: pooled rows [batch × dim], before normalisation. Throws on an output shape it cannot read. */
  private async runRaw(lists: number[][]): Promise<{ data: Float32Array; dim: number }> {
    const b = packTokenBatch(lists);
    const shape = [b.batch, b.seqLen];
    const mask = b.mask;
    const feeds: Record<string, { data: BigInt64Array; dims: number[] }> = {
      input_ids: { data: b.ids, dims: shape },
      // a copy: a worker runner moves the feeds' buffers, and the mask is needed here for pooling
      attention_mask: { data: mask.slice(), dims: shape },
    };
    if (this.typeIds) feeds.token_type_ids = { data: new BigInt64Array(b.ids.length), dims: shape };
    const y = await this.session.run(feeds, this.output.name);
    const pooled = this.output.pooling === 'graph';
    const want = pooled ? `[${b.batch}, dim]` : `[${b.batch}, ${b.seqLen}, dim]`;
    const ok = y.type === 'float32' && y.dims.length === (pooled ? 2 : 3) && y.dims[0] === b.batch && (pooled || y.dims[1] === b.seqLen);
    const dim = y.dims[y.dims.length - 1];
    if (!ok || !(dim >= 1) || (this.dim !== 0 && dim !== this.dim)) {
      throw new RagError(
        'INVALID_INPUT',
        `${this.name}: output '${this.output.name}' is ${y.type} [${y.dims.join(', ')}]; expected float32 ${want}${this.dim ? ` with dim ${this.dim}` : ''}`,
      );
    }
    return { data: pooled ? y.data : meanPool(y.data, mask, b.batch, b.seqLen, dim), dim };
  }

  /** Free the native session. The embedder is unusable afterwards. */
  async release(): Promise<void> {
    await this.session.release();
  }
}

/**
 * sentence-transformers' mean Pooling: Σₜ h·mask / max(Σₜ mask, 1e-9), per row of a [batch, seq, dim] tensor.
 * Sums in float64 (the graph sums in float32; the difference is far below a float32 ulp of a unit vector).
 */
export function meanPool(hidden: Float32Array, mask: BigInt64Array, batch: number, seqLen: number, dim: number): Float32Array {
  const out = new Float32Array(batch * dim);
  const acc = new Float64Array(dim);
  for (let b = 0; b < batch; b++) {
    acc.fill(0);
    let count = 0;
    for (let t = 0; t < seqLen; t++) {
      if (mask[b * seqLen + t] === 0n) continue;
      count++;
      const off = (b * seqLen + t) * dim;
      for (let d = 0; d < dim; d++) acc[d] += hidden[off + d];
    }
    const c = Math.max(count, 1e-9);
    for (let d = 0; d < dim; d++) out[b * dim + d] = acc[d] / c;
  }
  return out;
}

/** sentence-transformers' Normalize: x / max(‖x‖, 1e-12), in place; an all-zero row stays zero. */
export function normalise(row: Float32Array): Float32Array {
  let s = 0;
  for (let i = 0; i < row.length; i++) s += row[i] * row[i];
  const n = Math.max(Math.sqrt(s), 1e-12);
  for (let i = 0; i < row.length; i++) row[i] /= n;
  return row;
}
