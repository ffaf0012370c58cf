import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema, NodeProtoSchema, OperatorSetIdProtoSchema, ValueInfoProtoSchema, TensorProto_DataType, TensorProtoSchema, AttributeProto_AttributeType, type ModelProto, type NodeProto, type TensorProto } from 'onnx-buf';
import * as ort from 'onnxruntime-node';
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

/** The nodes of a serialised model: op type, domain, inputs, outputs, and their integer attributes (`ints`). */
export function nodesOf(model: Uint8Array): Array<{ opType: string; domain: string; input: string[]; output: string[]; ints: Record<string, number> }> {
  return parse(model).graph!.node.map((n) => ({
    opType: n.opType,
    domain: n.domain,
    input: [...n.input],
    output: [...n.output],
    ints: Object.fromEntries(n.attribute.filter((a) => a.type === AttributeProto_AttributeType.INT).map((a) => [a.name, Number(a.i)])),
  }));
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

// ---------------------------------------------------------------------------------------------------------------
// 4-bit block-wise weights (t3 lesson 02): MatMulNBits and GatherBlockQuantized, onnxruntime's com.microsoft ops
// ---------------------------------------------------------------------------------------------------------------

/**
 * A MatMul weight W [K, N] (the graph computes x·W) in the layout of onnxruntime's `MatMulNBits` (com.microsoft,
 * bits 4), which stores the weight **transposed**, one output column after another:
 *
 *   b           uint8 [N, nBlocks, blockSize / 2]  column n's K codes (0..15) in blocks of `blockSize` along K, two
 *               per byte, element 2i in the low nibble and 2i+1 in the high one; a last partial block is padded
 *   scales      float32 [N · nBlocks]               one per block (column-major: column n's blocks are n·nBlocks…)
 *   zeroPoints  uint8 [N, ceil(nBlocks / 2)]       one 4-bit zero point per block, packed the same way; absent:
 *               8 for every block (the middle of 0..15)
 *
 * and the kernel computes W[k, n] = (code − zero point) · scale of k's block in column n.
 */
export interface NBitsWeight {
  /** Inputs along K that share a scale: a power of 2, ≥ 16 (MatMulNBits refuses anything else). */
  blockSize: number;
  b: Uint8Array;
  scales: Float32Array;
  zeroPoints?: Uint8Array;
}

/** W [K, N] (row-major, as the float initializer stores it) → its 4-bit form. The lesson's decision. */
export type NBitsQuantizer = (w: Float32Array, K: number, N: number, name: string) => NBitsWeight;

/** 'asymmetric': per block min/max (0 kept inside the range), 16 levels and a zero point; 'symmetric': ±max / 7, zero point 8. */
export type Int4Mode = 'asymmetric' | 'symmetric';

/** Blocks along K for K inputs: ceil(K / blockSize). */
export const nBlocksOf = (K: number, blockSize: number): number => Math.ceil(K / blockSize);

function checkBlockSize(blockSize: number, what: string): void {
  if (!Number.isInteger(blockSize) || blockSize < 16 || (blockSize & (blockSize - 1)) !== 0) {
    throw new RagError('INVALID_INPUT', `${what}: block size ${blockSize} must be a power of 2 and ≥ 16 (the com.microsoft 4-bit ops refuse others)`);
  }
}

/**
 * 4-bit codes, scale and zero point of one group of values (`get(i)` for i < n), the way onnxruntime's own
 * block quantizer does it: asymmetric over [min(0, lo), max(0, hi)] with scale = range / 15 and a zero point
 * round(−min / scale) in 0..15 (so 0 is exact), or symmetric with scale = max|v| / 7 and zero point 8.
 */
function quantizeGroup4(get: (i: number) => number, n: number, mode: Int4Mode, put: (i: number, code: number) => void): { scale: number; zero: number } {
  let lo = 0;
  let hi = 0;
  for (let i = 0; i < n; i++) {
    const v = get(i);
    if (!Number.isFinite(v)) throw new RagError('INVALID_INPUT', `quantize 4-bit: value ${i} of a block is ${v}`);
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  let scale: number;
  let zero: number;
  if (mode === 'symmetric') {
    const m = Math.max(-lo, hi);
    scale = m > 0 ? m / 7 : 1;
    zero = 8;
  } else {
    scale = hi > lo ? (hi - lo) / 15 : 1;
    zero = Math.min(15, Math.max(0, Math.round(-lo / scale)));
  }
  scale = Math.fround(scale);
  for (let i = 0; i < n; i++) {
    const c = Math.round(get(i) / scale) + zero;
    put(i, c < 0 ? 0 : c > 15 ? 15 : c);
  }
  return { scale, zero };
}

/**
 * W [K, N] → MatMulNBits's 4-bit layout with one scale (and zero point) per block of `blockSize` consecutive inputs
 * of each output column. Blocks run along K, the summed axis: each output column is a dot product over K, and a block
 * keeps an outlier's coarse step to its own `blockSize` neighbours instead of the whole column.
 */
export function quantizeBlockwise4(w: Float32Array, K: number, N: number, blockSize = 32, mode: Int4Mode = 'asymmetric'): NBitsWeight {
  return packNBits(w, K, N, blockSize, mode, 'block', 'quantizeBlockwise4');
}

/**
 * One scale (and zero point) per output column, written in MatMulNBits's block layout with every block of a column
 * repeating the column's scale (onnxruntime 1.30's CPU MatMulNBits takes blocks of 16 to 256 only, so a column of 384
 * or 1,536 inputs cannot be one block). The 4-bit counterpart of lesson 01's per-column int8: what blocks improve on.
 */
export function quantizeColumns4(w: Float32Array, K: number, N: number, blockSize = 256, mode: Int4Mode = 'asymmetric'): NBitsWeight {
  return packNBits(w, K, N, blockSize, mode, 'column', 'quantizeColumns4');
}

function packNBits(w: Float32Array, K: number, N: number, blockSize: number, mode: Int4Mode, group: 'block' | 'column', what: string): NBitsWeight {
  checkBlockSize(blockSize, what);
  if (w.length !== K * N) throw new RagError('INVALID_INPUT', `${what}: [${K}, ${N}] needs ${K * N} values, got ${w.length}`);
  const nBlocks = nBlocksOf(K, blockSize);
  const blob = blockSize / 2;
  const b = new Uint8Array(N * nBlocks * blob);
  const scales = new Float32Array(N * nBlocks);
  const zeros = new Uint8Array(N * nBlocks);
  // the byte holding element k of column n: blob (n, k's block), element k % blockSize, low nibble when even
  const put = (n: number, k: number, code: number) => {
    const i = k % blockSize;
    b[(n * nBlocks + Math.floor(k / blockSize)) * blob + (i >> 1)] |= i & 1 ? code << 4 : code;
  };
  for (let n = 0; n < N; n++) {
    const groups = group === 'block' ? nBlocks : 1;
    const len = group === 'block' ? blockSize : K;
    for (let gi = 0; gi < groups; gi++) {
      const k0 = gi * len;
      const n0 = Math.min(len, K - k0);
      const { scale, zero } = quantizeGroup4((i) => w[(k0 + i) * N + n], n0, mode, (i, code) => put(n, k0 + i, code));
      for (let blk = Math.floor(k0 / blockSize); blk < Math.ceil((k0 + n0) / blockSize); blk++) {
        scales[n * nBlocks + blk] = scale;
        zeros[n * nBlocks + blk] = zero;
      }
    }
    for (let k = K; k < nBlocks * blockSize; k++) put(n, k, zeros[n * nBlocks + nBlocks - 1]); // padding decodes to 0
  }
  return { blockSize, b, scales, zeroPoints: mode === 'symmetric' ? undefined : packNibbles(zeros, N, nBlocks) };
}

/** Unpacked 4-bit values [rows, cols] (0..15) → [rows, ceil(cols / 2)] bytes, element 2i in the low nibble. */
export function packNibbles(values: Uint8Array, rows: number, cols: number): Uint8Array {
  const per = Math.ceil(cols / 2);
  const out = new Uint8Array(rows * per);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[r * per + (c >> 1)] |= (values[r * cols + c] & 15) << (c & 1 ? 4 : 0);
  return out;
}

/** The nibble at element `i` of a row packed by `packNibbles` (low nibble first). */
const nibble = (bytes: Uint8Array, rowStart: number, i: number): number => (bytes[rowStart + (i >> 1)] >> (i & 1 ? 4 : 0)) & 15;

/**
 * MatMulNBits's contract in plain TypeScript: the float W [K, N] (row-major, the graph's x·W orientation) that
 * onnxruntime multiplies by, read from the packed form exactly as the kernel reads it. The reference the tests
 * and the lesson's checkpoint compare with.
 */
export function dequantizeNBits(t: NBitsWeight, K: number, N: number): Float32Array {
  checkBlockSize(t.blockSize, 'dequantizeNBits');
  const nBlocks = nBlocksOf(K, t.blockSize);
  const blob = t.blockSize / 2;
  const zpRow = Math.ceil(nBlocks / 2);
  if (t.b.length !== N * nBlocks * blob) throw new RagError('INVALID_INPUT', `dequantizeNBits: B has ${t.b.length} bytes, [${N}, ${nBlocks}, ${blob}] needs ${N * nBlocks * blob}`);
  if (t.scales.length !== N * nBlocks) throw new RagError('INVALID_INPUT', `dequantizeNBits: ${t.scales.length} scales, expected N · nBlocks = ${N * nBlocks}`);
  if (t.zeroPoints && t.zeroPoints.length !== N * zpRow) throw new RagError('INVALID_INPUT', `dequantizeNBits: ${t.zeroPoints.length} zero-point bytes, expected [${N}, ${zpRow}]`);
  const out = new Float32Array(K * N);
  for (let n = 0; n < N; n++) {
    for (let k = 0; k < K; k++) {
      const blk = Math.floor(k / t.blockSize);
      const code = nibble(t.b, (n * nBlocks + blk) * blob, k % t.blockSize);
      const zero = t.zeroPoints ? nibble(t.zeroPoints, n * zpRow, blk) : 8;
      out[k * N + n] = (code - zero) * t.scales[n * nBlocks + blk];
    }
  }
  return out;
}

export interface NBitsRewriteOptions {
  /** Default 32 (used by the default quantizer; a custom quantizer returns its own). */
  blockSize?: number;
  /** Default: `quantizeBlockwise4(w, K, N, blockSize, 'asymmetric')`. */
  quantizer?: NBitsQuantizer;
  /**
   * MatMulNBits's `accuracy_level`: 0 (default) multiplies in float32 after unpacking; 4 lets onnxruntime quantize the
   * activations to int8 per block and multiply in integers (faster where the CPU has int8 dot products).
   */
  accuracyLevel?: number;
}

/**
 * Rewrite the named MatMul weights ([K, N] float32 initializers, read only as a MatMul's B input) to 4 bits:
 * MatMul(x, W) → MatMulNBits(x, B, scales[, zero points]) (com.microsoft, bits 4). Every other initializer keeps its
 * bytes; the model gains the com.microsoft opset import if it lacks one.
 */
export function quantizeMatMulNBits(model: Uint8Array, names: readonly string[], opts: NBitsRewriteOptions = {}): Uint8Array {
  const blockSize = opts.blockSize ?? 32;
  const quantizer: NBitsQuantizer = opts.quantizer ?? ((w, K, N) => quantizeBlockwise4(w, K, N, blockSize, 'asymmetric'));
  const m = parse(model);
  const g = m.graph!;
  const byName = new Map(g.initializer.map((t) => [t.name, t]));
  const replace = new Map<NodeProto, NodeProto>();
  const drop = new Set<string>();
  for (const name of names) {
    const t = byName.get(name);
    if (!t || t.dataType !== TensorProto_DataType.FLOAT || t.dims.length !== 2) {
      throw new RagError('INVALID_INPUT', `quantize 4-bit: '${name}' is not a 2-D float32 initializer of the model`);
    }
    const readers = g.node.filter((n) => n.input.includes(name));
    const bad = readers.find((n) => n.opType !== 'MatMul' || n.input[1] !== name || n.input[0] === name);
    if (readers.length === 0 || bad) throw new RagError('INVALID_INPUT', `quantize 4-bit: '${name}' must be read only as the B input of MatMul nodes`);
    const [K, N] = t.dims.map(Number);
    const q = quantizer(floatsOf(stored(t)), K, N, name);
    checkBlockSize(q.blockSize, `quantize 4-bit '${name}'`);
    const nBlocks = nBlocksOf(K, q.blockSize);
    const blob = q.blockSize / 2;
    if (q.b.length !== N * nBlocks * blob) {
      throw new RagError('INVALID_INPUT', `quantize 4-bit: '${name}' [${K}, ${N}] in blocks of ${q.blockSize} needs B [N=${N}, ${nBlocks}, ${blob}] = ${N * nBlocks * blob} bytes, got ${q.b.length}`);
    }
    if (q.scales.length !== N * nBlocks) throw new RagError('INVALID_INPUT', `quantize 4-bit: '${name}' needs ${N * nBlocks} scales (N · blocks), got ${q.scales.length}`);
    const zpRow = Math.ceil(nBlocks / 2);
    if (q.zeroPoints && q.zeroPoints.length !== N * zpRow) throw new RagError('INVALID_INPUT', `quantize 4-bit: '${name}' needs ${N * zpRow} zero-point bytes, got ${q.zeroPoints.length}`);
    drop.add(name);
    const [bName, sName, zName] = ['_nbits_B', '_nbits_scales', '_nbits_zero_points'].map((x) => `${name}${x}`);
    g.initializer.push(tensor(bName, TensorProto_DataType.UINT8, [N, nBlocks, blob], q.b));
    g.initializer.push(tensor(sName, TensorProto_DataType.FLOAT, [N * nBlocks], q.scales));
    if (q.zeroPoints) g.initializer.push(tensor(zName, TensorProto_DataType.UINT8, [N * zpRow], q.zeroPoints));
    for (const n of readers) {
      replace.set(
        n,
        create(NodeProtoSchema, {
          name: `${n.name || name}_MatMulNBits`,
          opType: 'MatMulNBits',
          domain: 'com.microsoft',
          input: [n.input[0], bName, sName, ...(q.zeroPoints ? [zName] : [])],
          output: [...n.output],
          attribute: [intAttr('K', K), intAttr('N', N), intAttr('bits', 4), intAttr('block_size', q.blockSize), intAttr('accuracy_level', opts.accuracyLevel ?? 0)],
        }),
      );
    }
  }
  g.initializer = g.initializer.filter((t) => !drop.has(t.name));
  g.node = g.node.map((n) => replace.get(n) ?? n);
  useMsDomain(m);
  return toBinary(ModelProtoSchema, m);
}

/** A lookup table [rows, dim] in 4 bits, blocks along each row: what GatherBlockQuantized (uint8, bits 4) reads. */
export interface Int4Table {
  blockSize: number;
  /** [rows, ceil(dim / 2)], element 2i of a row in the low nibble. */
  data: Uint8Array;
  /** [rows, nBlocks]. */
  scales: Float32Array;
  /** [rows, ceil(nBlocks / 2)] packed; absent: 8. */
  zeroPoints?: Uint8Array;
}

/** A table [rows, dim] → 4-bit codes with one scale and zero point per block of `blockSize` values of each row. */
export function quantizeTableInt4(table: Float32Array, rows: number, dim: number, blockSize = 32, mode: Int4Mode = 'asymmetric'): Int4Table {
  checkBlockSize(blockSize, 'quantizeTableInt4');
  if (table.length !== rows * dim) throw new RagError('INVALID_INPUT', `quantizeTableInt4: [${rows}, ${dim}] needs ${rows * dim} values, got ${table.length}`);
  const nBlocks = nBlocksOf(dim, blockSize);
  const per = Math.ceil(dim / 2);
  const data = new Uint8Array(rows * per);
  const scales = new Float32Array(rows * nBlocks);
  const zeros = new Uint8Array(rows * nBlocks);
  for (let r = 0; r < rows; r++) {
    for (let blk = 0; blk < nBlocks; blk++) {
      const j0 = blk * blockSize;
      const len = Math.min(blockSize, dim - j0);
      const { scale, zero } = quantizeGroup4(
        (i) => table[r * dim + j0 + i],
        len,
        mode,
        (i, code) => (data[r * per + ((j0 + i) >> 1)] |= (j0 + i) & 1 ? code << 4 : code),
      );
      scales[r * nBlocks + blk] = scale;
      zeros[r * nBlocks + blk] = zero;
    }
  }
  return { blockSize, data, scales, zeroPoints: mode === 'symmetric' ? undefined : packNibbles(zeros, rows, nBlocks) };
}

/** The float table GatherBlockQuantized looks rows up in, in plain TypeScript (the reference for tests). */
export function dequantizeTableInt4(t: Int4Table, rows: number, dim: number): Float32Array {
  const nBlocks = nBlocksOf(dim, t.blockSize);
  const per = Math.ceil(dim / 2);
  const zpRow = Math.ceil(nBlocks / 2);
  const out = new Float32Array(rows * dim);
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < dim; j++) {
      const blk = Math.floor(j / t.blockSize);
      const zero = t.zeroPoints ? nibble(t.zeroPoints, r * zpRow, blk) : 8;
      out[r * dim + j] = (nibble(t.data, r * per, j) - zero) * t.scales[r * nBlocks + blk];
    }
  }
  return out;
}

/**
 * Rewrite a lookup table (a float32 [rows, dim] initializer read only as a Gather's data, axis 0) to 4 bits in blocks
 * along each row: Gather(table, ids) → GatherBlockQuantized(packed uint8, ids, scales, zero points) (com.microsoft,
 * bits 4, gather_axis 0, quantize_axis 1), which unpacks only the rows it looks up. onnxruntime 1.30's CPU provider
 * runs it (checked in quantize.test.ts against `dequantizeTableInt4`).
 */
export function quantizeGatherTableInt4(model: Uint8Array, name: string, opts: { blockSize?: number; mode?: Int4Mode } = {}): Uint8Array {
  const m = parse(model);
  const g = m.graph!;
  const t = g.initializer.find((x) => x.name === name);
  if (!t || t.dataType !== TensorProto_DataType.FLOAT || t.dims.length !== 2) throw new RagError('INVALID_INPUT', `quantize: '${name}' is not a 2-D float32 initializer of the model`);
  const readers = g.node.filter((n) => n.input.includes(name));
  const bad = readers.find((n) => n.opType !== 'Gather' || n.input[0] !== name || n.attribute.some((a) => a.name === 'axis' && a.i !== 0n));
  if (readers.length === 0 || bad) throw new RagError('INVALID_INPUT', `quantize: '${name}' must be read only as the data of Gather nodes on axis 0`);
  const [rows, dim] = t.dims.map(Number);
  const q = quantizeTableInt4(floatsOf(stored(t)), rows, dim, opts.blockSize ?? 32, opts.mode ?? 'asymmetric');
  const nBlocks = nBlocksOf(dim, q.blockSize);
  const [dName, sName, zName] = ['_int4', '_int4_scales', '_int4_zero_points'].map((x) => `${name}${x}`);
  g.initializer = g.initializer.filter((x) => x !== t);
  g.initializer.push(tensor(dName, TensorProto_DataType.UINT8, [rows, Math.ceil(dim / 2)], q.data));
  g.initializer.push(tensor(sName, TensorProto_DataType.FLOAT, [rows, nBlocks], q.scales));
  if (q.zeroPoints) g.initializer.push(tensor(zName, TensorProto_DataType.UINT8, [rows, Math.ceil(nBlocks / 2)], q.zeroPoints));
  g.node = g.node.map((n) =>
    readers.includes(n)
      ? create(NodeProtoSchema, {
          name: `${n.name || name}_GatherBlockQuantized`,
          opType: 'GatherBlockQuantized',
          domain: 'com.microsoft',
          input: [dName, n.input[1], sName, ...(q.zeroPoints ? [zName] : [])],
          output: [...n.output],
          attribute: [intAttr('bits', 4), intAttr('block_size', q.blockSize), intAttr('gather_axis', 0), intAttr('quantize_axis', 1)],
        })
      : n,
  );
  useMsDomain(m);
  return toBinary(ModelProtoSchema, m);
}

// ---------------------------------------------------------------------------------------------------------------
// Static activation quantization (t3 lesson 03): activation scales fixed once from a calibration sample
// ---------------------------------------------------------------------------------------------------------------

/** The range an activation tensor is quantized over; values outside it are clipped to its ends. */
export interface ActivationRange {
  min: number;
  max: number;
}

/**
 * The calibration hook: every value one MatMul input took over the calibration sample (all positions of all batches,
 * concatenated) → the range its fixed uint8 scale will cover. `tensor` is the activation's name in the graph.
 */
export type ActivationStatistic = (values: Float32Array, tensor: string) => ActivationRange;

/** The smallest and largest value seen (0 kept inside, so 0 stays exact). Nothing seen is clipped. */
export const minMaxRange: ActivationStatistic = (values) => {
  let min = 0;
  let max = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v < min) min = v;
    else if (v > max) max = v;
  }
  return { min, max };
};

/**
 * The `p` and 1 − `p` quantiles (e.g. p = 0.9999: the 0.01% most extreme values at each end are clipped, for a finer
 * step on the rest). 0 kept inside.
 */
export function percentileRange(p: number): ActivationStatistic {
  if (!(p > 0.5 && p <= 1)) throw new RagError('INVALID_INPUT', `percentileRange: p must be in (0.5, 1], got ${p}`);
  return (values) => {
    if (values.length === 0) return { min: 0, max: 0 };
    const sorted = Float32Array.from(values).sort();
    const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.round(q * (sorted.length - 1))))];
    return { min: Math.min(0, at(1 - p)), max: Math.max(0, at(p)) };
  };
}

/** uint8 scale and zero point covering `r` (asymmetric, as DynamicQuantizeLinear computes per call). */
export function uint8Params(r: ActivationRange): { scale: number; zeroPoint: number } {
  const min = Math.min(0, r.min);
  const max = Math.max(0, r.max);
  if (!Number.isFinite(min) || !Number.isFinite(max)) throw new RagError('INVALID_INPUT', `uint8Params: range [${r.min}, ${r.max}] is not finite`);
  const scale = max > min ? (max - min) / 255 : 1;
  return { scale: Math.fround(scale), zeroPoint: Math.min(255, Math.max(0, Math.round(-min / scale))) };
}

/** The activation tensor (A input) each named weight's MatMul reads: weight name → tensor name. */
export function matmulInputs(model: Uint8Array, names: readonly string[]): Map<string, string> {
  const g = parse(model).graph!;
  const out = new Map<string, string>();
  for (const name of names) {
    const n = g.node.find((x) => x.opType === 'MatMul' && x.input[1] === name);
    if (!n) throw new RagError('INVALID_INPUT', `quantize: no MatMul reads '${name}' as its B input`);
    out.set(name, n.input[0]);
  }
  return out;
}

/** The model with the named intermediate tensors added as float32 graph outputs (to read activations). */
export function exposeTensors(model: Uint8Array, tensors: readonly string[]): Uint8Array {
  const m = parse(model);
  const g = m.graph!;
  const have = new Set(g.output.map((o) => o.name));
  for (const t of tensors) {
    if (have.has(t)) continue;
    have.add(t);
    g.output.push(create(ValueInfoProtoSchema, { name: t, type: { value: { case: 'tensorType', value: { elemType: TensorProto_DataType.FLOAT } } } }));
  }
  return toBinary(ModelProtoSchema, m);
}

/**
 * Run the model on `feeds` (the calibration sample, one feed per run) and return, for each named MatMul weight, the
 * range `statistic` picks from every value its input activation took. Inputs shared by several MatMuls (q, k, v read
 * the same tensor) are collected once.
 */
export async function calibrateActivations(
  model: Uint8Array,
  names: readonly string[],
  feeds: ReadonlyArray<Record<string, ort.Tensor>>,
  statistic: ActivationStatistic,
): Promise<Map<string, ActivationRange>> {
  const inputs = matmulInputs(model, names);
  const tensors = [...new Set(inputs.values())];
  const session = await ort.InferenceSession.create(exposeTensors(model, tensors), { executionProviders: ['cpu'], intraOpNumThreads: 1, graphOptimizationLevel: 'all' });
  const parts = new Map<string, Float32Array[]>(tensors.map((t) => [t, []]));
  try {
    for (const f of feeds) {
      const out = await session.run(f, tensors);
      for (const t of tensors) {
        parts.get(t)!.push((out[t].data as Float32Array).slice());
        out[t].dispose();
      }
    }
  } finally {
    await session.release();
  }
  const ranges = new Map<string, ActivationRange>();
  for (const t of tensors) {
    const chunks = parts.get(t)!;
    const all = new Float32Array(chunks.reduce((a, c) => a + c.length, 0));
    let at = 0;
    for (const c of chunks) {
      all.set(c, at);
      at += c.length;
    }
    parts.delete(t); // free as we go: the concatenation is the big allocation
    const r = statistic(all, t);
    for (const [w, x] of inputs) if (x === t) ranges.set(w, r);
  }
  return ranges;
}

export interface StaticRewriteOptions {
  /** How the weights are quantized. Default `perColumn` (int8, symmetric, one scale per output column). */
  quantizer?: WeightQuantizer;
  /**
   * 'qdq' (default): QuantizeLinear → DequantizeLinear on the activation, DequantizeLinear (axis 1) on the weight,
   * float MatMul: the form onnxruntime's QDQ transformer recognises and replaces by its MatMulIntegerToFloat int8
   * kernel. 'integer': QuantizeLinear → MatMulInteger → Cast → Mul, written out (onnxruntime 1.30 leaves it unfused
   * when the scale is a constant: three kernels and an int32 tensor per MatMul).
   */
  format?: 'qdq' | 'integer';
}

/**
 * Rewrite the named MatMul weights to int8 (as `quantizeMatMulWeights` 'integer') with the activations quantized by a
 * **fixed** scale and zero point: QuantizeLinear(x, s_x, z_x) → MatMulInteger(x_u8, W_i8, z_x, 0) → Cast → · (s_x ·
 * s_w). `ranges` maps each weight name to the range its input activation was calibrated to; nothing about the
 * activations is computed per call (no min/max pass), and values outside the range are clipped to its ends.
 */
export function quantizeMatMulStatic(model: Uint8Array, ranges: ReadonlyMap<string, ActivationRange>, opts: StaticRewriteOptions = {}): Uint8Array {
  const quantizer = opts.quantizer ?? perColumn;
  const m = parse(model);
  const g = m.graph!;
  const byName = new Map(g.initializer.map((t) => [t.name, t]));
  const replace = new Map<NodeProto, NodeProto[]>();
  const drop = new Set<string>();
  const sharedQdq = new Map<string, string>();
  for (const [name, range] of ranges) {
    const t = byName.get(name);
    if (!t || t.dataType !== TensorProto_DataType.FLOAT || t.dims.length !== 2) throw new RagError('INVALID_INPUT', `quantize static: '${name}' is not a 2-D float32 initializer of the model`);
    const readers = g.node.filter((n) => n.input.includes(name));
    const bad = readers.find((n) => n.opType !== 'MatMul' || n.input[1] !== name || n.input[0] === name);
    if (readers.length === 0 || bad) throw new RagError('INVALID_INPUT', `quantize static: '${name}' must be read only as the B input of MatMul nodes`);
    const [rows, cols] = t.dims.map(Number);
    const qt = quantizer(floatsOf(stored(t)), rows, cols, name);
    if (qt.axis === 'row') throw new RagError('INVALID_INPUT', `quantize static: '${name}' has a scale per row, which does not factor out of the sum`);
    const { scale: xs, zeroPoint: xz } = uint8Params(range);
    drop.add(name);
    const [qName, zName, sName, xsName, xzName] = ['_quantized', '_zero_point', '_out_scale', '_x_scale', '_x_zero_point'].map((x) => `${name}${x}`);
    const dims = qt.axis === 'tensor' ? [] : [cols];
    g.initializer.push(tensor(qName, TensorProto_DataType.INT8, [rows, cols], qt.q));
    g.initializer.push(tensor(zName, TensorProto_DataType.INT8, dims, new Int8Array(qt.scale.length)));
    const activationKey = (n: NodeProto) => `${n.input[0]}|${xs}|${xz}`;
    if (opts.format === 'integer' || readers.some((n) => !sharedQdq.has(activationKey(n)))) {
      g.initializer.push(tensor(xsName, TensorProto_DataType.FLOAT, [], Float32Array.of(xs)));
      g.initializer.push(tensor(xzName, TensorProto_DataType.UINT8, [], Uint8Array.of(xz)));
    }
    if ((opts.format ?? 'qdq') === 'qdq') {
      // the weight dequantized under its float name (per column, axis 1), the activation through a fixed Q/DQ pair
      g.initializer.push(tensor(`${name}_w_scale`, TensorProto_DataType.FLOAT, dims, qt.scale));
      const attrs = qt.axis === 'tensor' ? [] : [intAttr('axis', 1)];
      replace.set(readers[0], [
        create(NodeProtoSchema, { name: `${name}_DequantizeLinear`, opType: 'DequantizeLinear', input: [qName, `${name}_w_scale`, zName], output: [name], attribute: attrs }),
        ...readers.flatMap((n) => {
          // MatMuls reading one activation with one range (q, k and v) share one Q/DQ pair
          const key = activationKey(n);
          const shared = sharedQdq.get(key);
          const p = n.name || `${name}_matmul`;
          const [xq, xd] = ['x_quantized', 'x_dequantized'].map((x) => `${p}_${x}`);
          if (shared) return [create(NodeProtoSchema, { ...n, input: [shared, name] })];
          sharedQdq.set(key, xd);
          return [
            create(NodeProtoSchema, { name: `${p}_QuantizeLinear`, opType: 'QuantizeLinear', input: [n.input[0], xsName, xzName], output: [xq] }),
            create(NodeProtoSchema, { name: `${p}_DequantizeLinear`, opType: 'DequantizeLinear', input: [xq, xsName, xzName], output: [xd] }),
            create(NodeProtoSchema, { ...n, input: [xd, name] }),
          ];
        }),
      ]);
      for (const n of readers.slice(1)) replace.set(n, []);
      continue;
    }
    g.initializer.push(tensor(sName, TensorProto_DataType.FLOAT, dims, Float32Array.from(qt.scale, (s) => s * xs)));
    for (const n of readers) {
      const p = n.name || `${name}_matmul`;
      const [xq, y32, yf] = ['x_quantized', 'int32', 'float'].map((x) => `${p}_${x}`);
      replace.set(n, [
        create(NodeProtoSchema, { name: `${p}_QuantizeLinear`, opType: 'QuantizeLinear', input: [n.input[0], xsName, xzName], output: [xq] }),
        create(NodeProtoSchema, { name: `${p}_MatMulInteger`, opType: 'MatMulInteger', input: [xq, qName, xzName, zName], output: [y32] }),
        create(NodeProtoSchema, { name: `${p}_Cast`, opType: 'Cast', input: [y32], output: [yf], attribute: [intAttr('to', TensorProto_DataType.FLOAT)] }),
        create(NodeProtoSchema, { name: `${p}_Mul`, opType: 'Mul', input: [yf, sName], output: [...n.output] }),
      ]);
    }
  }
  g.initializer = g.initializer.filter((t) => !drop.has(t.name));
  g.node = g.node.flatMap((n) => replace.get(n) ?? [n]);
  return toBinary(ModelProtoSchema, m);
}

function useMsDomain(m: ModelProto): void {
  if (!m.opsetImport.some((o) => o.domain === 'com.microsoft')) m.opsetImport.push(create(OperatorSetIdProtoSchema, { domain: 'com.microsoft', version: 1n }));
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

function tensor(name: string, dataType: number, dims: number[], data: Int8Array | Uint8Array | Float32Array): TensorProto {
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
