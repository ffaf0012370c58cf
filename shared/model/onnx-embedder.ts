import * as ort from 'onnxruntime-node';
import { readFile } from 'node:fs/promises';
import { RagError } from '../errors.ts';
import type { Embedder } from '../types.ts';

/**
 * An `Embedder` backed by an onnxruntime-node `InferenceSession`. The model takes the inputs a sentence-transformers
 * export takes, `input_ids` and `attention_mask` (int64 [batch, seq], 0-padded, mask 1 on real tokens), and returns
 * one float32 row per text ([batch, dim]). Tokenisation stays in TypeScript: `tokenize` turns one text into the ids
 * the model's table uses, and this class pads a batch to its longest text.
 *
 * One `embed` call is one `session.run`, unless the padded batch would exceed `maxTokens` (batch × longest text):
 * then it is cut into consecutive runs, so one very long text does not make every short text in its batch pay for
 * its padding (and a [batch, seq, dim] intermediate does not grow without bound).
 *
 * A text with no token (nothing the model knows) gets the all-zero row, as `SifEmbedder` does.
 */

export interface OnnxEmbedderOptions {
  /** Embedder name (used in index metadata). */
  name: string;
  /** Output width; checked against what the model returns. */
  dim: number;
  /** One text → the model's token ids (no padding). An empty result means "no known token": the row is zeros. */
  tokenize: (text: string) => ArrayLike<number>;
  /** Threads one run may use (onnxruntime's intra-op pool). Default: onnxruntime's choice (one per core). */
  intraOpNumThreads?: number;
  /** Padded tokens (texts × longest) per run before a batch is split. Default 65,536. */
  maxTokens?: number;
  /** Input names. Default `input_ids` / `attention_mask`. */
  inputNames?: { ids: string; mask: string };
  /** Output name. Default: the model's first output. */
  outputName?: string;
}

/** A batch as the model takes it: ids and mask, both int64 [batch, seqLen], row-major, 0-padded. */
export interface TokenBatch {
  ids: BigInt64Array;
  mask: BigInt64Array;
  batch: number;
  seqLen: number;
}

/** Pad token-id lists to the longest (at least 1, so an all-empty batch still has a valid shape). */
export function packTokenBatch(lists: readonly ArrayLike<number>[]): TokenBatch {
  let seqLen = 1;
  for (const l of lists) if (l.length > seqLen) seqLen = l.length;
  const ids = new BigInt64Array(lists.length * seqLen);
  const mask = new BigInt64Array(lists.length * seqLen);
  for (let i = 0; i < lists.length; i++) {
    const l = lists[i];
    const off = i * seqLen;
    for (let t = 0; t < l.length; t++) {
      ids[off + t] = BigInt(l[t]);
      mask[off + t] = 1n;
    }
  }
  return { ids, mask, batch: lists.length, seqLen };
}

/**
 * Consecutive runs [start, end) of `lists` whose padded size (texts × longest, an empty text counting 1) stays
 * within `maxTokens`; a text longer than the budget runs alone. Order is kept, so rows go back where they came from.
 */
export function* tokenBudgetRuns(lists: readonly ArrayLike<number>[], maxTokens: number): Generator<[number, number]> {
  for (let start = 0; start < lists.length; ) {
    let end = start + 1;
    let longest = Math.max(1, lists[start].length);
    while (end < lists.length) {
      const l = Math.max(longest, lists[end].length);
      if (l * (end - start + 1) > maxTokens) break;
      longest = l;
      end++;
    }
    yield [start, end];
    start = end;
  }
}

export class OnnxEmbedder implements Embedder {
  readonly name: string;
  readonly dim: number;
  private readonly tokenizeText: (text: string) => ArrayLike<number>;
  private readonly maxTokens: number;
  private readonly idsName: string;
  private readonly maskName: string;
  private readonly outName: string;

  private constructor(
    private readonly session: ort.InferenceSession,
    opts: OnnxEmbedderOptions,
  ) {
    this.name = opts.name;
    this.dim = opts.dim;
    this.tokenizeText = opts.tokenize;
    this.maxTokens = opts.maxTokens ?? 65_536;
    this.idsName = opts.inputNames?.ids ?? 'input_ids';
    this.maskName = opts.inputNames?.mask ?? 'attention_mask';
    this.outName = opts.outputName ?? session.outputNames[0];
    for (const n of [this.idsName, this.maskName]) {
      if (!session.inputNames.includes(n)) {
        throw new RagError('INVALID_INPUT', `OnnxEmbedder(${this.name}): the model has no input '${n}' (it has ${session.inputNames.join(', ')})`);
      }
    }
    if (!session.outputNames.includes(this.outName)) {
      throw new RagError('INVALID_INPUT', `OnnxEmbedder(${this.name}): the model has no output '${this.outName}' (it has ${session.outputNames.join(', ')})`);
    }
  }

  /** Load a model (bytes, or a `.onnx` file path) into a session. */
  static async create(model: Uint8Array | string, opts: OnnxEmbedderOptions): Promise<OnnxEmbedder> {
    if (!Number.isInteger(opts.dim) || opts.dim <= 0) throw new RagError('INVALID_INPUT', `OnnxEmbedder(${opts.name}): dim must be a positive integer, got ${opts.dim}`);
    const t = opts.intraOpNumThreads;
    if (t !== undefined && (!Number.isInteger(t) || t < 1)) {
      throw new RagError('INVALID_INPUT', `OnnxEmbedder(${opts.name}): intraOpNumThreads must be a positive integer, got ${t}`);
    }
    if (opts.maxTokens !== undefined && !(opts.maxTokens >= 1)) {
      throw new RagError('INVALID_INPUT', `OnnxEmbedder(${opts.name}): maxTokens must be >= 1, got ${opts.maxTokens}`);
    }
    let bytes: Uint8Array;
    if (typeof model === 'string') {
      try {
        bytes = await readFile(model);
      } catch (err) {
        throw new RagError('NOT_FOUND', `OnnxEmbedder(${opts.name}): cannot read model ${model}: ${(err as Error).message}`);
      }
    } else {
      bytes = model;
    }
    let session: ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(bytes, {
        executionProviders: ['cpu'],
        graphOptimizationLevel: 'all',
        ...(t !== undefined ? { intraOpNumThreads: t } : {}),
        // one run at a time per session: a second pool for parallel branches would only compete for the cores
        executionMode: 'sequential',
      });
    } catch (err) {
      throw new RagError('CORRUPT', `OnnxEmbedder(${opts.name}): onnxruntime could not load the model: ${(err as Error).message}`);
    }
    return new OnnxEmbedder(session, opts);
  }

  async embed(texts: string[]): Promise<Float32Array[]> {
    const dim = this.dim;
    const lists = texts.map((t) => this.tokenizeText(t));
    const out = new Float32Array(texts.length * dim);
    for (const [start, end] of tokenBudgetRuns(lists, this.maxTokens)) {
      await this.run(lists.slice(start, end), out.subarray(start * dim, end * dim));
    }
    const rows: Float32Array[] = new Array(texts.length);
    for (let i = 0; i < texts.length; i++) {
      const row = out.subarray(i * dim, (i + 1) * dim);
      // the graph already yields zeros here (0 / max(0, ε)); make the contract independent of the model
      if (lists[i].length === 0) row.fill(0);
      rows[i] = row;
    }
    return rows;
  }

  private async run(lists: ArrayLike<number>[], into: Float32Array): Promise<void> {
    const b = packTokenBatch(lists);
    const feeds = {
      [this.idsName]: new ort.Tensor('int64', b.ids, [b.batch, b.seqLen]),
      [this.maskName]: new ort.Tensor('int64', b.mask, [b.batch, b.seqLen]),
    };
    const result = await this.session.run(feeds, [this.outName]);
    const y = result[this.outName];
    try {
      if (y.type !== 'float32' || y.dims.length !== 2 || y.dims[0] !== b.batch || y.dims[1] !== this.dim) {
        throw new RagError(
          'INVALID_INPUT',
          `OnnxEmbedder(${this.name}): the model returned ${y.type} [${y.dims.join(', ')}], expected float32 [${b.batch}, ${this.dim}]`,
        );
      }
      into.set(y.data as Float32Array);
    } finally {
      y.dispose();
    }
  }

  /** Free the native session. The embedder is unusable afterwards. */
  async release(): Promise<void> {
    await this.session.release();
  }
}
