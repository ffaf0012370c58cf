import { create, toBinary, type MessageInitShape } from '@bufbuild/protobuf';
import {
  AttributeProto_AttributeType,
  AttributeProtoSchema,
  ModelProtoSchema,
  NodeProtoSchema,
  TensorProto_DataType,
  TensorProtoSchema,
  ValueInfoProtoSchema,
  type AttributeProto,
  type ModelProto,
  type NodeProto,
  type TensorProto,
  type ValueInfoProto,
} from 'onnx-buf';
import { endianness } from 'node:os';
import { RagError } from '../errors.ts';

/**
 * A small typed builder for ONNX graphs, so models can be written from TypeScript without Python: inputs and outputs
 * with (symbolic) shapes, initializers from typed arrays, nodes, opset imports, serialised to the bytes that
 * `InferenceSession.create` takes.
 *
 * The protobuf schema is `onnx-buf` (onnx.proto of ONNX 1.20, generated for `@bufbuild/protobuf`). The builder checks
 * what would otherwise surface as a terse runtime load error: every node input is defined before use (graph input,
 * initializer or an earlier node's output), names are unique, initializer data matches its dims. It does not check
 * operator schemas; onnxruntime does that when the model loads.
 *
 *   const g = new GraphBuilder('demo');
 *   const x = g.input('x', 'float32', ['batch', 4]);
 *   const w = g.initializer('w', 'float32', [4, 2], new Float32Array(8));
 *   const [y] = g.node('MatMul', [x, w]);
 *   g.output(y, 'float32', ['batch', 2]);
 *   const bytes = g.toBytes();
 */

/** Element types the builder writes (names as onnxruntime-node's `Tensor.type`). */
export type ElemType = 'float32' | 'float16' | 'int64' | 'int32' | 'int8' | 'uint8' | 'bool';

const ELEM: Record<ElemType, number> = {
  float32: TensorProto_DataType.FLOAT,
  float16: TensorProto_DataType.FLOAT16,
  int64: TensorProto_DataType.INT64,
  int32: TensorProto_DataType.INT32,
  int8: TensorProto_DataType.INT8,
  uint8: TensorProto_DataType.UINT8,
  bool: TensorProto_DataType.BOOL,
};

const ELEM_BYTES: Record<ElemType, number> = { float32: 4, float16: 2, int64: 8, int32: 4, int8: 1, uint8: 1, bool: 1 };

/** A dimension: a fixed size, or a name for a size given at run time ('batch', 'seq'). */
export type Dim = number | string;

/** Initializer data: a typed array whose element size matches the element type (float16 as raw Uint16Array bits). */
export type TensorData = Float32Array | BigInt64Array | Int32Array | Int8Array | Uint8Array | Uint16Array;

/** A float attribute (plain numbers are ints: ONNX tells the two apart, JavaScript does not). */
export interface FloatAttr {
  readonly float: number;
}
export interface FloatsAttr {
  readonly floats: readonly number[];
}
export interface TensorAttr {
  readonly tensor: { type: ElemType; dims: readonly number[]; data: TensorData };
}
/** Attribute values: integer → INT, integer[] → INTS, string → STRING, `float(x)`, `floats([...])`, `tensor(...)`. */
export type AttrValue = number | readonly number[] | string | FloatAttr | FloatsAttr | TensorAttr;

export const float = (x: number): FloatAttr => ({ float: x });
export const floats = (xs: readonly number[]): FloatsAttr => ({ floats: xs });
export const tensorAttr = (type: ElemType, dims: readonly number[], data: TensorData): TensorAttr => ({ tensor: { type, dims, data } });

export interface NodeOptions {
  /** Output names; default: generated from the op type (`MatMul_3`). A number asks for that many generated outputs. */
  outputs?: string[] | number;
  /** Operator domain, e.g. 'com.microsoft' for contrib ops. Default '' (the ONNX domain). */
  domain?: string;
  /** Node name. Default: generated. */
  name?: string;
}

export interface ModelOptions {
  /** Opset of the ONNX domain. Default 18 (ReduceSum/ReduceMean take `axes` as an input from 13/18). */
  opset?: number;
  /** Other domains used, e.g. `{ 'com.microsoft': 1 }`. */
  domains?: Record<string, number>;
  /**
   * IR version. Default 9 (ONNX 1.13-1.15, the first with opset 18); onnxruntime loads models up to its own maximum,
   * so an older IR is the more portable choice.
   */
  irVersion?: number;
  producer?: string;
  docString?: string;
  /** Free-form metadata stored in the model (`metadata_props`), e.g. what the model was built from. */
  metadata?: Record<string, string>;
}

export class GraphBuilder {
  private readonly inputs: ValueInfoProto[] = [];
  private readonly outputs: ValueInfoProto[] = [];
  private readonly initializers: TensorProto[] = [];
  private readonly nodes: NodeProto[] = [];
  /** Every value name defined so far (inputs, initializers, node outputs). */
  private readonly defined = new Set<string>();
  private readonly nodeNames = new Set<string>();
  private counter = 0;

  constructor(readonly name: string) {
    if (endianness() !== 'LE') throw new RagError('INVALID_INPUT', 'GraphBuilder: raw tensor data is little-endian; this host is big-endian');
  }

  /** Declare a graph input; returns its name. */
  input(name: string, type: ElemType, shape: readonly Dim[]): string {
    this.define(name, 'input');
    this.inputs.push(valueInfo(name, type, shape));
    return name;
  }

  /** Declare an already defined value (a node output) as a graph output. */
  output(name: string, type: ElemType, shape: readonly Dim[]): string {
    if (!this.defined.has(name)) throw new RagError('INVALID_INPUT', `GraphBuilder(${this.name}): output '${name}' is not produced by any node`);
    if (this.outputs.some((o) => o.name === name)) throw new RagError('INVALID_INPUT', `GraphBuilder(${this.name}): '${name}' is already an output`);
    this.outputs.push(valueInfo(name, type, shape));
    return name;
  }

  /** A constant tensor stored in the model (weights); returns its name. */
  initializer(name: string, type: ElemType, dims: readonly number[], data: TensorData): string {
    this.define(name, 'initializer');
    this.initializers.push(tensorProto(name, type, dims, data, `GraphBuilder(${this.name}): initializer '${name}'`));
    return name;
  }

  /** An int64 constant (shapes, axes) as an initializer with a generated name. */
  ints(values: readonly number[], dims: readonly number[] = [values.length], hint = 'const'): string {
    return this.initializer(this.fresh(hint), 'int64', dims, BigInt64Array.from(values, (v) => BigInt(v)));
  }

  /** A float32 constant as an initializer with a generated name. */
  floats(values: ArrayLike<number>, dims: readonly number[] = [values.length], hint = 'const'): string {
    return this.initializer(this.fresh(hint), 'float32', dims, Float32Array.from(values));
  }

  /**
   * Add a node; returns its output names. Inputs must be defined already ('' marks an omitted optional input), which
   * keeps the node list in topological order as ONNX requires.
   */
  node(opType: string, inputs: readonly string[], attrs: Record<string, AttrValue> = {}, opts: NodeOptions = {}): string[] {
    const name = opts.name ?? this.fresh(opType, this.nodeNames);
    if (this.nodeNames.has(name)) throw new RagError('INVALID_INPUT', `GraphBuilder(${this.name}): node name '${name}' is used twice`);
    this.nodeNames.add(name);
    for (const i of inputs) {
      if (i !== '' && !this.defined.has(i)) {
        throw new RagError('INVALID_INPUT', `GraphBuilder(${this.name}): ${opType} node '${name}' reads '${i}', which is not defined yet`);
      }
    }
    const outs =
      typeof opts.outputs === 'number' || opts.outputs === undefined
        ? Array.from({ length: opts.outputs ?? 1 }, () => this.fresh(opType))
        : opts.outputs;
    for (const o of outs) this.define(o, `${opType} output`);
    this.nodes.push(
      create(NodeProtoSchema, {
        input: [...inputs],
        output: outs,
        name,
        opType,
        domain: opts.domain ?? '',
        attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v, `${opType} '${name}'`)),
      }),
    );
    return outs;
  }

  /** Shorthand for a single-output node. */
  op(opType: string, inputs: readonly string[], attrs: Record<string, AttrValue> = {}, opts: Omit<NodeOptions, 'outputs'> = {}): string {
    return this.node(opType, inputs, attrs, opts)[0];
  }

  /** The ModelProto (for inspection or further editing). */
  toModel(opts: ModelOptions = {}): ModelProto {
    if (this.outputs.length === 0) throw new RagError('INVALID_INPUT', `GraphBuilder(${this.name}): the graph has no output`);
    const opset = [{ domain: '', version: BigInt(opts.opset ?? 18) }];
    for (const [domain, version] of Object.entries(opts.domains ?? {})) opset.push({ domain, version: BigInt(version) });
    return create(ModelProtoSchema, {
      irVersion: BigInt(opts.irVersion ?? 9),
      producerName: opts.producer ?? 'rag-perf-lab',
      producerVersion: '1',
      docString: opts.docString ?? '',
      opsetImport: opset,
      metadataProps: Object.entries(opts.metadata ?? {}).map(([key, value]) => ({ key, value })),
      graph: {
        name: this.name,
        node: this.nodes,
        initializer: this.initializers,
        input: this.inputs,
        output: this.outputs,
      },
    });
  }

  /**
   * The serialised model: what `InferenceSession.create(bytes)` loads or a `.onnx` file holds.
   *
   * Large initializers (≥ 1 MB) are not passed through the protobuf writer, which would copy a 130 MB table several
   * times (its buffer grows by doubling, and each enclosing message shifts the bytes to fit its length prefix). They
   * are appended after the rest of the model as further `graph { initializer { … raw_data } }` fields, written once
   * into one preallocated buffer: a protobuf parser merges repeated occurrences of an embedded message field
   * (protobuf encoding spec, "last one wins" / merge), so the result parses as one graph with all initializers.
   */
  toBytes(opts: ModelOptions = {}): Uint8Array {
    const model = this.toModel(opts);
    const big = model.graph!.initializer.filter((t) => t.rawData !== undefined && t.rawData.length >= OUT_OF_LINE_BYTES);
    if (big.length === 0) return toBinary(ModelProtoSchema, model);
    model.graph!.initializer = model.graph!.initializer.filter((t) => !big.includes(t));
    const head = toBinary(ModelProtoSchema, model);
    const parts: Uint8Array[] = [head];
    for (const t of big) {
      const raw = t.rawData!;
      const meta = toBinary(TensorProtoSchema, create(TensorProtoSchema, { name: t.name, dims: t.dims, dataType: t.dataType }));
      const tensorLen = meta.length + 1 + varintSize(raw.length) + raw.length;
      const initLen = 1 + varintSize(tensorLen) + tensorLen;
      // ModelProto.graph = 7, GraphProto.initializer = 5, TensorProto.raw_data = 9; wire type 2 (length-delimited)
      parts.push(varintBytes(TAG(7), initLen), varintBytes(TAG(5), tensorLen), meta, varintBytes(TAG(9), raw.length), raw);
    }
    let total = 0;
    for (const p of parts) total += p.length;
    if (total > 2 ** 31 - 1) {
      throw new RagError('INVALID_INPUT', `GraphBuilder(${this.name}): the model is ${total} bytes; a protobuf model is limited to 2 GB (store weights as external data)`);
    }
    const out = new Uint8Array(total);
    let off = 0;
    for (const p of parts) {
      out.set(p, off);
      off += p.length;
    }
    return out;
  }

  private define(name: string, what: string): void {
    if (name === '') throw new RagError('INVALID_INPUT', `GraphBuilder(${this.name}): a ${what} needs a name`);
    if (this.defined.has(name)) throw new RagError('INVALID_INPUT', `GraphBuilder(${this.name}): '${name}' (${what}) is defined twice`);
    this.defined.add(name);
  }

  private fresh(hint: string, taken: Set<string> = this.defined): string {
    let n: string;
    do n = `${hint}_${this.counter++}`;
    while (taken.has(n));
    return n;
  }
}

const OUT_OF_LINE_BYTES = 1 << 20;
const TAG = (field: number) => (field << 3) | 2;

function varintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

/** A tag byte followed by a varint (lengths here are < 2^53, far beyond protobuf's 2 GB limit anyway). */
function varintBytes(tag: number, n: number): Uint8Array {
  const out = new Uint8Array(1 + varintSize(n));
  out[0] = tag;
  let i = 1;
  while (n >= 0x80) {
    out[i++] = (n % 128) | 0x80;
    n = Math.floor(n / 128);
  }
  out[i] = n;
  return out;
}

function valueInfo(name: string, type: ElemType, shape: readonly Dim[]): ValueInfoProto {
  return create(ValueInfoProtoSchema, {
    name,
    type: {
      value: {
        case: 'tensorType',
        value: {
          elemType: ELEM[type],
          shape: {
            dim: shape.map((d) => ({ value: typeof d === 'number' ? { case: 'dimValue' as const, value: BigInt(d) } : { case: 'dimParam' as const, value: d } })),
          },
        },
      },
    },
  });
}

function tensorProto(name: string, type: ElemType, dims: readonly number[], data: TensorData, where: string): TensorProto {
  const count = dims.reduce((a, b) => a * b, 1);
  if (dims.some((d) => !Number.isInteger(d) || d < 0)) throw new RagError('INVALID_INPUT', `${where}: dims must be non-negative integers, got [${dims}]`);
  if (data.BYTES_PER_ELEMENT !== ELEM_BYTES[type]) {
    throw new RagError('INVALID_INPUT', `${where}: ${type} needs ${ELEM_BYTES[type]}-byte elements, got a ${data.constructor.name}`);
  }
  if (data.length !== count) throw new RagError('INVALID_INPUT', `${where}: dims [${dims}] hold ${count} values, data has ${data.length}`);
  return create(TensorProtoSchema, {
    name,
    dims: dims.map((d) => BigInt(d)),
    dataType: ELEM[type],
    // raw_data: one copy of the bytes, no per-element encoding (the repeated float_data field would be ~2x slower to
    // write and read for a 100 MB table)
    rawData: new Uint8Array(data.buffer as ArrayBuffer, data.byteOffset, data.byteLength),
  });
}

function attribute(name: string, v: AttrValue, where: string): AttributeProto {
  const T = AttributeProto_AttributeType;
  const base = { name };
  let init: MessageInitShape<typeof AttributeProtoSchema>;
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) throw new RagError('INVALID_INPUT', `${where}: attribute ${name}=${v} is not an integer; wrap floats in float(x)`);
    init = { ...base, type: T.INT, i: BigInt(v) };
  } else if (typeof v === 'string') {
    init = { ...base, type: T.STRING, s: new TextEncoder().encode(v) };
  } else if (Array.isArray(v)) {
    if (!v.every((x) => Number.isInteger(x))) throw new RagError('INVALID_INPUT', `${where}: attribute ${name} has non-integers; wrap floats in floats([...])`);
    init = { ...base, type: T.INTS, ints: v.map((x) => BigInt(x)) };
  } else if ('float' in v) {
    init = { ...base, type: T.FLOAT, f: v.float };
  } else if ('floats' in v) {
    init = { ...base, type: T.FLOATS, floats: [...v.floats] };
  } else {
    const t = (v as TensorAttr).tensor;
    init = { ...base, type: T.TENSOR, t: tensorProto('', t.type, t.dims, t.data, `${where}: attribute ${name}`) };
  }
  return create(AttributeProtoSchema, init);
}
