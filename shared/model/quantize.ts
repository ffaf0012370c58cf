import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema, NodeProtoSchema, TensorProto_DataType, TensorProtoSchema, AttributeProto_AttributeType, type ModelProto, type NodeProto, type TensorProto } from 'onnx-buf';
import { RagError } from '../errors.ts';

/**
 * Weight quantization as a rewrite of a serialised ONNX model: float32 initializers become int8 initializers plus
 * float32 scales, and the graph gets the nodes that turn them back into what the consumers expect. Nothing else in
 * the model changes (other initializers keep their bytes, node names and outputs stay), so the same rewrite applies
 * to the project's seeded encoder, the static SIF model, or an exported model with the same op pattern.
 *
 * Symmetric int8: q = clamp(round(w / s), −127, 127), w ≈ q · s, zero point 0. −128 is left out on purpose: with
 * ±127 the range is symmetric, and s = max|w| / 127 maps the largest weight to exactly ±127 (a scale of max/128
 * would round it to 128, which does not fit in an int8).
 *
 * Granularity (the lesson's decision; `QuantizeAxis`):
 *   - 'tensor': one scale for the whole tensor. Every column is measured in steps of the largest weight anywhere,
 *     so a column whose weights are 10× smaller than the largest keeps only ~25 of the 255 levels (−12..12).
 *   - 'column' (per output channel of an [in, out] MatMul weight): one scale per column j. A scale that depends only
 *     on the output column factors out of the product: y_j = Σ_i x_i q_ij s_j = s_j · Σ_i x_i q_ij, so an int8
 *     kernel can do the whole sum in integers and apply s_j once per output. A scale per input row (axis 0) cannot
 *     factor out that way.
 *   - 'row' (per row of a lookup table, for Gather): every looked-up row is rescaled by its own scale.
 *
 * Formats for MatMul weights (`MatMulFormat`):
 *   - 'qdq': DequantizeLinear(int8 W, per-column scale, axis 1) → MatMul. The model stores int8; what runs depends on
 *     the runtime's fusions (t3 lesson 01: onnxruntime 1.30 on CPU fuses it into MatMulNBits with 8-bit weights,
 *     which was no faster than float32 there).
 *   - 'integer': the activations are quantized at run time (DynamicQuantizeLinear: one uint8 scale and zero point
 *     per call), MatMulInteger(x_u8, W_i8) → int32, then · (x_scale · w_scale_j). This is what onnxruntime's
 *     `quantize_dynamic` writes, and onnxruntime fuses it into its DynamicQuantizeMatMul int8 kernel.
 */

export type QuantizeAxis = 'tensor' | 'column' | 'row';
export type MatMulFormat = 'qdq' | 'integer';

export interface Int8Tensor {
  /** Codes, in the float tensor's layout. */
  q: Int8Array;
  /** One scale ('tensor'), one per column ('column'), or one per row ('row'). */
  scale: Float32Array;
  axis: QuantizeAxis;
}

/** Symmetric int8 codes of a 2-D row-major [rows, cols] tensor with one scale per `axis` group. */
export function quantizeSymmetric(w: Float32Array, rows: number, cols: number, axis: QuantizeAxis): Int8Tensor {
  if (w.length !== rows * cols) throw new RagError('INVALID_INPUT', `quantizeSymmetric: [${rows}, ${cols}] needs ${rows * cols} values, got ${w.length}`);
  const groups = axis === 'tensor' ? 1 : axis === 'column' ? cols : rows;
  const group = axis === 'tensor' ? () => 0 : axis === 'column' ? (_r: number, c: number) => c : (r: number) => r;
  const absMax = new Float32Array(groups);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const a = Math.abs(w[r * cols + c]);
      if (!Number.isFinite(a)) throw new RagError('INVALID_INPUT', `quantizeSymmetric: value [${r}, ${c}] is ${w[r * cols + c]}`);
      const g = group(r, c);
      if (a > absMax[g]) absMax[g] = a;
    }
  }
  // an all-zero group gets scale 1 (its codes are 0 either way; a 0 scale would divide by zero when dequantizing)
  const scale = Float32Array.from(absMax, (m) => (m > 0 ? m / 127 : 1));
  const q = new Int8Array(w.length);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const v = Math.round(w[r * cols + c] / scale[group(r, c)]);
      q[r * cols + c] = v > 127 ? 127 : v < -127 ? -127 : v;
    }
  }
  return { q, scale, axis };
}

/** q · scale back in float32, [rows, cols] row-major. */
export function dequantize(t: Int8Tensor, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const s = t.scale[t.axis === 'tensor' ? 0 : t.axis === 'column' ? c : r];
      out[r * cols + c] = t.q[r * cols + c] * s;
    }
  }
  return out;
}

/** How a MatMul weight is quantized: the lesson's exercise supplies this (after.ts: per column, symmetric). */
export type WeightQuantizer = (w: Float32Array, rows: number, cols: number, name: string) => Int8Tensor;

export const perColumn: WeightQuantizer = (w, rows, cols) => quantizeSymmetric(w, rows, cols, 'column');

export interface MatMulRewriteOptions {
  /** Default 'qdq'. */
  format?: MatMulFormat;
  /** Default `perColumn`. 'integer' needs one scale per tensor or per column (they factor out of the int32 sum). */
  quantizer?: WeightQuantizer;
}

/** An initializer as the model stores it. */
export interface StoredTensor {
  name: string;
  type: 'float32' | 'int8' | 'uint8' | 'int64' | 'other';
  dims: number[];
  /** Bytes of its data. */
  bytes: number;
  /** The raw little-endian data (a view into the parsed model). */
  raw: Uint8Array;
}

/** The initializers of a serialised model, by name (what a test or a size table looks at). */
export function initializersOf(model: Uint8Array): Map<string, StoredTensor> {
  const m = parse(model);
  return new Map(m.graph!.initializer.map((t) => [t.name, stored(t)]));
}

/** The nodes of a serialised model: op type, domain, inputs, outputs. */
export function nodesOf(model: Uint8Array): Array<{ opType: string; domain: string; input: string[]; output: string[] }> {
  return parse(model).graph!.node.map((n) => ({ opType: n.opType, domain: n.domain, input: [...n.input], output: [...n.output] }));
}

/** A float32 initializer's values (a copy). */
export function floatsOf(t: StoredTensor): Float32Array {
  if (t.type !== 'float32') throw new RagError('INVALID_INPUT', `initializer '${t.name}' is ${t.type}, not float32`);
  const out = new Float32Array(t.bytes / 4);
  new Uint8Array(out.buffer).set(t.raw);
  return out;
}

/**
 * Rewrite the named MatMul weights ([in, out] initializers read as a MatMul's second input) to int8. Every name must
 * be a 2-D float32 initializer that only MatMul nodes read as their B input.
 */
export function quantizeMatMulWeights(model: Uint8Array, names: readonly string[], opts: MatMulRewriteOptions = {}): Uint8Array {
  const format = opts.format ?? 'qdq';
  const quantizer = opts.quantizer ?? perColumn;
  const m = parse(model);
  const g = m.graph!;
  const byName = new Map(g.initializer.map((t) => [t.name, t]));
  const front: NodeProto[] = [];
  const replace = new Map<NodeProto, NodeProto[]>();
  const drop = new Set<string>();
  for (const name of names) {
    const t = byName.get(name);
    if (!t) throw new RagError('INVALID_INPUT', `quantize: the model has no initializer '${name}'`);
    if (t.dataType !== TensorProto_DataType.FLOAT || t.dims.length !== 2) {
      throw new RagError('INVALID_INPUT', `quantize: '${name}' is not a 2-D float32 tensor (type ${t.dataType}, dims [${t.dims}])`);
    }
    const readers = g.node.filter((n) => n.input.includes(name));
    const bad = readers.find((n) => n.opType !== 'MatMul' || n.input[1] !== name || n.input[0] === name);
    if (readers.length === 0 || bad) {
      throw new RagError('INVALID_INPUT', `quantize: '${name}' must be read only as the B input of MatMul nodes${bad ? `, ${bad.opType} '${bad.name}' reads it` : ', nothing reads it'}`);
    }
    const [rows, cols] = t.dims.map(Number);
    const w = floatsOf(stored(t));
    const qt = quantizer(w, rows, cols, name);
    if (qt.q.length !== w.length) throw new RagError('INVALID_INPUT', `quantize: the quantizer returned ${qt.q.length} codes for '${name}', expected ${w.length}`);
    const want = qt.axis === 'tensor' ? 1 : qt.axis === 'column' ? cols : rows;
    if (qt.scale.length !== want) throw new RagError('INVALID_INPUT', `quantize: '${name}' has ${qt.scale.length} scales for axis '${qt.axis}', expected ${want}`);
    drop.add(name);
    const qName = `${name}_quantized`;
    const sName = `${name}_scale`;
    const zName = `${name}_zero_point`;
    const scaleDims = qt.axis === 'tensor' ? [] : [want];
    g.initializer.push(tensor(qName, TensorProto_DataType.INT8, [rows, cols], qt.q));
    g.initializer.push(tensor(sName, TensorProto_DataType.FLOAT, scaleDims, qt.scale));
    g.initializer.push(tensor(zName, TensorProto_DataType.INT8, scaleDims, new Int8Array(qt.scale.length)));
    if (format === 'qdq') {
      // the dequantized weight takes the float initializer's name, so every MatMul reads it unchanged
      const attrs = qt.axis === 'tensor' ? [] : [intAttr('axis', qt.axis === 'column' ? 1 : 0)];
      front.push(create(NodeProtoSchema, { name: `${name}_DequantizeLinear`, opType: 'DequantizeLinear', input: [qName, sName, zName], output: [name], attribute: attrs }));
    } else {
      if (qt.axis === 'row') throw new RagError('INVALID_INPUT', `quantize: MatMulInteger needs a scale per tensor or per output column; '${name}' has one per row, which does not factor out of the sum`);
      for (const n of readers) {
        const p = n.name || `${name}_matmul`;
        const [xq, xs, xz, y32, yf, s] = ['x_quantized', 'x_scale', 'x_zero_point', 'int32', 'float', 'scale'].map((x) => `${p}_${x}`);
        replace.set(n, [
          create(NodeProtoSchema, { name: `${p}_DynamicQuantizeLinear`, opType: 'DynamicQuantizeLinear', input: [n.input[0]], output: [xq, xs, xz] }),
          create(NodeProtoSchema, { name: `${p}_MatMulInteger`, opType: 'MatMulInteger', input: [xq, qName, xz, zName], output: [y32] }),
          create(NodeProtoSchema, { name: `${p}_Cast`, opType: 'Cast', input: [y32], output: [yf], attribute: [intAttr('to', TensorProto_DataType.FLOAT)] }),
          create(NodeProtoSchema, { name: `${p}_scale_Mul`, opType: 'Mul', input: [xs, sName], output: [s] }),
          create(NodeProtoSchema, { name: `${p}_Mul`, opType: 'Mul', input: [yf, s], output: [...n.output] }),
        ]);
      }
    }
  }
  g.initializer = g.initializer.filter((t) => !drop.has(t.name));
  g.node = [...front, ...g.node.flatMap((n) => replace.get(n) ?? [n])];
  return toBinary(ModelProtoSchema, m);
}

/**
 * Rewrite a lookup table (a float32 [rows, dim] initializer read only as a Gather's data input, axis 0) to int8 with
 * one scale per row: Gather(int8 table, ids) → Cast → · Gather(scales, ids). The table shrinks to a quarter; a
 * looked-up row is its own codes times its own scale, so a rare word's small vector is not measured in steps of the
 * largest vector in the table.
 */
export function quantizeGatherTable(model: Uint8Array, name: string): Uint8Array {
  const m = parse(model);
  const g = m.graph!;
  const t = g.initializer.find((x) => x.name === name);
  if (!t || t.dataType !== TensorProto_DataType.FLOAT || t.dims.length !== 2) throw new RagError('INVALID_INPUT', `quantize: '${name}' is not a 2-D float32 initializer of the model`);
  const readers = g.node.filter((n) => n.input.includes(name));
  const bad = readers.find((n) => n.opType !== 'Gather' || n.input[0] !== name || n.attribute.some((a) => a.name === 'axis' && a.i !== 0n));
  if (readers.length === 0 || bad) throw new RagError('INVALID_INPUT', `quantize: '${name}' must be read only as the data of Gather nodes on axis 0`);
  const [rows, cols] = t.dims.map(Number);
  const qt = quantizeSymmetric(floatsOf(stored(t)), rows, cols, 'row');
  const qName = `${name}_quantized`;
  const sName = `${name}_scale`;
  g.initializer = g.initializer.filter((x) => x !== t);
  g.initializer.push(tensor(qName, TensorProto_DataType.INT8, [rows, cols], qt.q));
  g.initializer.push(tensor(sName, TensorProto_DataType.FLOAT, [rows, 1], qt.scale));
  const replace = new Map<NodeProto, NodeProto[]>();
  for (const n of readers) {
    const p = n.name || `${name}_gather`;
    const [codes, f, s] = ['codes', 'float', 'row_scale'].map((x) => `${p}_${x}`);
    replace.set(n, [
      create(NodeProtoSchema, { name: `${p}_codes`, opType: 'Gather', input: [qName, n.input[1]], output: [codes], attribute: [intAttr('axis', 0)] }),
      create(NodeProtoSchema, { name: `${p}_Cast`, opType: 'Cast', input: [codes], output: [f], attribute: [intAttr('to', TensorProto_DataType.FLOAT)] }),
      create(NodeProtoSchema, { name: `${p}_scales`, opType: 'Gather', input: [sName, n.input[1]], output: [s], attribute: [intAttr('axis', 0)] }),
      create(NodeProtoSchema, { name: `${p}_Mul`, opType: 'Mul', input: [f, s], output: [...n.output] }),
    ]);
  }
  g.node = g.node.flatMap((n) => replace.get(n) ?? [n]);
  return toBinary(ModelProtoSchema, m);
}

function parse(model: Uint8Array): ModelProto {
  let m: ModelProto;
  try {
    m = fromBinary(ModelProtoSchema, model);
  } catch (err) {
    throw new RagError('CORRUPT', `quantize: not an ONNX model: ${(err as Error).message}`);
  }
  if (!m.graph) throw new RagError('CORRUPT', 'quantize: the model has no graph');
  return m;
}

const TYPE_NAMES: Record<number, StoredTensor['type']> = {
  [TensorProto_DataType.FLOAT]: 'float32',
  [TensorProto_DataType.INT8]: 'int8',
  [TensorProto_DataType.UINT8]: 'uint8',
  [TensorProto_DataType.INT64]: 'int64',
};

function stored(t: TensorProto): StoredTensor {
  const raw = t.rawData ?? new Uint8Array(0);
  if (raw.length === 0 && (t.floatData.length > 0 || t.int32Data.length > 0 || t.int64Data.length > 0)) {
    throw new RagError('INVALID_INPUT', `quantize: initializer '${t.name}' keeps its values in typed fields, not raw_data (re-export with raw data)`);
  }
  return { name: t.name, type: TYPE_NAMES[t.dataType] ?? 'other', dims: t.dims.map(Number), bytes: raw.length, raw };
}

function tensor(name: string, dataType: number, dims: number[], data: Int8Array | Float32Array): TensorProto {
  return create(TensorProtoSchema, {
    name,
    dataType,
    dims: dims.map((d) => BigInt(d)),
    rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice(),
  });
}

function intAttr(name: string, i: number) {
  return { name, type: AttributeProto_AttributeType.INT, i: BigInt(i) };
}
