import { fromBinary } from '@bufbuild/protobuf';
import * as ort from 'onnxruntime-node';
import { ModelProtoSchema } from 'onnx-buf';
import { expectRagError } from '../util/expect-rag-error.ts';
import { describe, expect, it } from 'vitest';
import { float, GraphBuilder } from './onnx-build.ts';

describe('GraphBuilder', () => {
  it('writes a model onnxruntime runs, with int and float attributes', async () => {
    const g = new GraphBuilder('demo');
    const x = g.input('x', 'float32', ['batch', 4]);
    const w = g.initializer('w', 'float32', [4, 2], Float32Array.from([1, 0, 0, 1, 1, 0, 0, 1]));
    const y = g.op('LeakyRelu', [g.op('MatMul', [x, w])], { alpha: float(0.5) });
    const s = g.op('ReduceSum', [y, g.ints([1])], { keepdims: 0 });
    g.output(y, 'float32', ['batch', 2]);
    g.output(s, 'float32', ['batch']);
    const session = await ort.InferenceSession.create(g.toBytes());
    try {
      const r = await session.run({ x: new ort.Tensor('float32', Float32Array.from([1, 2, 3, -9, 0, 0, 1, 1]), [2, 4]) });
      expect([...(r[y].data as Float32Array)]).toEqual([4, -3.5, 1, 1]);
      expect([...(r[s].data as Float32Array)]).toEqual([0.5, 2]);
    } finally {
      await session.release();
    }
  });

  it('appends large initializers out of line and they parse back as part of the one graph', async () => {
    const g = new GraphBuilder('big');
    const ids = g.input('ids', 'int64', ['n']);
    const big = new Float32Array(300_000 * 2).map((_, i) => i); // 2.4 MB: written out of line
    const table = g.initializer('table', 'float32', [300_000, 2], big);
    const scale = g.initializer('scale', 'float32', [1], Float32Array.from([0.5]));
    const y = g.op('Mul', [g.op('Gather', [table, ids], { axis: 0 }), scale]);
    g.output(y, 'float32', ['n', 2]);
    const bytes = g.toBytes();
    const model = fromBinary(ModelProtoSchema, bytes);
    expect(model.graph!.initializer.map((t) => t.name).sort()).toEqual(['scale', 'table']);
    expect(model.graph!.node).toHaveLength(2);
    const t = model.graph!.initializer.find((i) => i.name === 'table')!;
    expect(t.dims).toEqual([300_000n, 2n]);
    expect(Buffer.from(t.rawData).equals(Buffer.from(big.buffer))).toBe(true); // (toEqual on 600k floats takes seconds)
    const session = await ort.InferenceSession.create(bytes);
    try {
      const r = await session.run({ ids: new ort.Tensor('int64', BigInt64Array.from([0n, 299_999n]), [2]) });
      expect([...(r[y].data as Float32Array)]).toEqual([0, 0.5, 299_999, 299_999.5]);
    } finally {
      await session.release();
    }
  });

  it('refuses undefined inputs, duplicate names, non-integer int attributes and a graph without outputs', () => {
    const bad = expectRagError;
    const g = new GraphBuilder('g');
    const x = g.input('x', 'float32', [2]);
    bad(() => g.input('x', 'float32', [2]), /'x' \(input\) is defined twice/);
    bad(() => g.op('Add', [x, 'y']), /reads 'y', which is not defined yet/);
    bad(() => g.op('LeakyRelu', [x], { alpha: 0.5 }), /alpha=0.5 is not an integer; wrap floats in float\(x\)/);
    bad(() => g.initializer('w', 'int64', [2], new Float32Array(2)), /int64 needs 8-byte elements/);
    bad(() => g.output('nope', 'float32', [2]), /'nope' is not produced by any node/);
    bad(() => g.toBytes(), /the graph has no output/);
  });
});
