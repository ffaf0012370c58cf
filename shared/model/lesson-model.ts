/**
 * The encoder a T3 lesson measures: the project's seeded one (MiniLM-L6's shape, or a lesson's smaller shape), or
 * the learner's own model folder when the chapter runs with `--model <dir>` (LessonContext.model).
 *
 * Either way the lesson gets the fp32 model bytes, the vocabulary size (seeded token ids are drawn below it), the
 * MatMul weights that are [in, out] initializers (what the quantization lessons rewrite), feeds for token-id lists
 * (with `token_type_ids` zeros when the model has that input, as a BERT export does) and the note its tables carry.
 * Seeded weights: outputs carry no meaning, fidelity is cosine to the fp32 model. A learner's model: real outputs,
 * measured on seeded token ids (no tokenizer pass), so fidelity is still the figure, not retrieval quality.
 */
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { ModelProtoSchema, NodeProtoSchema, TensorProto_DataType, TensorProtoSchema } from 'onnx-buf';
import { RagError } from '../errors.ts';
import { buildEncoderModel, encoderConfig, matmulWeightNames, type EncoderOptions } from './encoder.ts';
import { packTokenBatch } from './onnx-embedder.ts';

export const SEEDED_NOTE = 'seeded weights: outputs carry no meaning; fidelity is cosine to the fp32 model';

export interface LessonEncoder {
  /** The fp32 model. */
  bytes: Uint8Array;
  /** Token ids 1..vocab−1 are valid (0 pads). */
  vocab: number;
  /** 'small encoder (…)', 'MiniLM-L6 shape (…)' or 'your model (<dir>)'. */
  label: string;
  /** The project's seeded encoder (true) or the learner's folder (false). */
  seeded: boolean;
  /** Initializers [in, out] that a MatMul multiplies by (x · W): what int8/int4 rewrites. */
  matmulWeights: string[];
  /** Whether the model takes `token_type_ids` (fed zeros). */
  typeIds: boolean;
  /** The word-embedding table's initializer (Gather by input_ids). */
  wordTable: string;
  /** What a table using this model must say. */
  note: string;
}

/** The seeded encoder of `opts` (labelled `label`), or the model in `dir` when given. */
export async function lessonEncoder(opts: EncoderOptions, label: string, dir?: string): Promise<LessonEncoder> {
  if (dir === undefined) {
    return {
      bytes: buildEncoderModel(opts),
      vocab: encoderConfig(opts).vocab,
      label,
      seeded: true,
      matmulWeights: matmulWeightNames(opts),
      typeIds: false,
      wordTable: 'embeddings.word.weight',
      note: SEEDED_NOTE,
    };
  }
  const file = join(dir, 'model.onnx');
  let bytes: Uint8Array;
  try {
    bytes = await readFile(file);
  } catch (err) {
    throw new RagError('NOT_FOUND', `--model: cannot read ${file}: ${(err as Error).message}`);
  }
  const { vocab, matmulWeights, typeIds, wordTable } = describeModel(bytes, file);
  return {
    // a BERT export's token_type_ids become zeros inside the graph, so every lesson's two-input feeds run it
    bytes: typeIds ? withoutTypeIds(bytes) : bytes,
    vocab,
    label: `your model (${dir})`,
    seeded: false,
    matmulWeights,
    typeIds: false,
    wordTable,
    note: 'your model, run on seeded token ids; fidelity is cosine to its fp32 outputs',
  };
}

/** What a lesson needs to know of an encoder graph: vocabulary rows, MatMul weights [in, out], token_type_ids. */
export function describeModel(bytes: Uint8Array, source = 'model'): { vocab: number; matmulWeights: string[]; typeIds: boolean; wordTable: string } {
  let graph;
  try {
    graph = fromBinary(ModelProtoSchema, bytes).graph;
  } catch (err) {
    throw new RagError('CORRUPT', `${source}: not an ONNX model: ${(err as Error).message}`);
  }
  if (!graph) throw new RagError('CORRUPT', `${source}: the model has no graph`);
  const inits = new Map(graph.initializer.map((t) => [t.name, t.dims.map(Number)]));
  const inputs = graph.input.map((i) => i.name);
  if (!inputs.includes('input_ids') || !inputs.includes('attention_mask')) {
    throw new RagError('INVALID_INPUT', `${source}: expected inputs input_ids and attention_mask (a sentence-transformers export), found ${inputs.join(', ')}`);
  }
  const table = graph.node.find((n) => n.opType === 'Gather' && n.input[1] === 'input_ids' && inits.has(n.input[0]));
  const vocab = table ? inits.get(table.input[0])![0] : 0;
  if (!(vocab > 1)) throw new RagError('INVALID_INPUT', `${source}: no word-embedding table (a Gather of an initializer by input_ids) found`);
  const matmulWeights = [
    ...new Set(graph.node.filter((n) => n.opType === 'MatMul' && inits.get(n.input[1])?.length === 2).map((n) => n.input[1])),
  ];
  return { vocab, matmulWeights, typeIds: inputs.includes('token_type_ids'), wordTable: table!.input[0] };
}

/** `input_ids` + `attention_mask` (+ `token_type_ids` zeros) int64 tensors for token-id lists, 0-padded to the longest. */
export function encoderFeeds(lists: readonly ArrayLike<number>[], typeIds = false): Record<string, ort.Tensor> {
  const b = packTokenBatch(lists);
  const shape = [b.batch, b.seqLen];
  const feeds: Record<string, ort.Tensor> = {
    input_ids: new ort.Tensor('int64', b.ids, shape),
    attention_mask: new ort.Tensor('int64', b.mask, shape),
  };
  if (typeIds) feeds.token_type_ids = new ort.Tensor('int64', new BigInt64Array(b.ids.length), shape);
  return feeds;
}

/**
 * The model with its `token_type_ids` input replaced by zeros computed in the graph (input_ids · 0): one segment, as
 * sentence-transformers feeds it, so feeds of `input_ids` and `attention_mask` alone run it.
 */
export function withoutTypeIds(bytes: Uint8Array): Uint8Array {
  const m = fromBinary(ModelProtoSchema, bytes);
  const g = m.graph!;
  g.input = g.input.filter((i) => i.name !== 'token_type_ids');
  g.initializer.push(create(TensorProtoSchema, { name: 'lesson_zero_i64', dims: [], dataType: TensorProto_DataType.INT64, int64Data: [0n] }));
  g.node.unshift(create(NodeProtoSchema, { opType: 'Mul', name: 'lesson_token_type_ids', input: ['input_ids', 'lesson_zero_i64'], output: ['token_type_ids'] }));
  return toBinary(ModelProtoSchema, m);
}
