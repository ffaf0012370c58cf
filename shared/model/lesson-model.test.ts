/**
 * `lessonEncoder`: the seeded encoder, or a learner's model folder (`npm run t3 -- --model <dir>`) described from its
 * graph: vocabulary rows, the MatMul weights a quantization lesson rewrites, token_type_ids, the word table.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isRagError } from '../errors.ts';
import { expectRagError } from '../util/expect-rag-error.ts';
import { matmulWeightNames, TINY_ENCODER } from './encoder.ts';
import { describeModel, lessonEncoder, SEEDED_NOTE } from './lesson-model.ts';
import { embedAll, openSession, seededTexts } from './session.ts';
import { ENCODER, writeTinyModelDir } from './tiny-model-dir.ts';

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'lesson-model-'));
});
afterAll(async () => {
  if (root) await rm(root, { recursive: true, force: true });
});

describe('lessonEncoder', () => {
  it('without a folder: the seeded encoder, its MatMul weights by name, the note that its outputs carry no meaning', async () => {
    const e = await lessonEncoder(TINY_ENCODER, 'tiny');
    expect(e.seeded).toBe(true);
    expect(e.note).toBe(SEEDED_NOTE);
    expect(e.matmulWeights).toEqual(matmulWeightNames(TINY_ENCODER));
    expect(describeModel(e.bytes)).toEqual({ vocab: 1000, matmulWeights: matmulWeightNames(TINY_ENCODER), typeIds: false, wordTable: 'embeddings.word.weight' });
  });

  it('with a folder: the model read from its graph, and it runs on seeded token ids', async () => {
    const dir = await writeTinyModelDir(join(root, 'm'));
    const e = await lessonEncoder(TINY_ENCODER, 'ignored', dir);
    expect(e.seeded).toBe(false);
    expect(e.label).toBe(`your model (${dir})`);
    expect(e.vocab).toBe(ENCODER.vocab);
    expect(e.matmulWeights).toEqual(matmulWeightNames(ENCODER));
    const s = await openSession(e.bytes);
    const rows = await embedAll(s, seededTexts(5, e.vocab, 1, 20));
    await s.release();
    expect(rows).toHaveLength(5);
    for (const r of rows) expect(Math.hypot(...r)).toBeCloseTo(1, 4);
  });

  it('refuses what it cannot run, with the reason', async () => {
    let err: unknown;
    try {
      await lessonEncoder(TINY_ENCODER, 'x', join(root, 'nowhere'));
    } catch (e) {
      err = e;
    }
    expect(isRagError(err, 'NOT_FOUND')).toBe(true);
    expect(String(err)).toMatch(/cannot read .*nowhere\/model\.onnx/);
    expectRagError(() => describeModel(new Uint8Array([1, 2, 3, 250]), 'junk.onnx'), /junk\.onnx: not an ONNX model/, 'CORRUPT');
  });
});

describe('withoutTypeIds', () => {
  it('turns a BERT export with token_type_ids into a two-input model with the same outputs as zeros fed', async () => {
    const { GraphBuilder } = await import('./onnx-build.ts');
    // a model whose output depends on token_type_ids: ids + 1000 · type, as floats
    const g = new GraphBuilder('tt');
    g.input('input_ids', 'int64', ['batch', 'seq']);
    g.input('attention_mask', 'int64', ['batch', 'seq']);
    g.input('token_type_ids', 'int64', ['batch', 'seq']);
    g.initializer('k', 'int64', [], BigInt64Array.from([1000n]));
    g.node('Mul', ['token_type_ids', 'k'], {}, { outputs: ['tt'] });
    g.node('Add', ['input_ids', 'tt'], {}, { outputs: ['sum'] });
    g.node('Cast', ['sum'], { to: 1 }, { outputs: ['out'] });
    g.output('out', 'float32', ['batch', 'seq']);
    const { withoutTypeIds } = await import('./lesson-model.ts');
    const s = await openSession(withoutTypeIds(g.toBytes()));
    expect([...s.inputNames].sort()).toEqual(['attention_mask', 'input_ids']);
    const rows = await embedAll(s, [[5, 6, 7]]);
    await s.release();
    expect([...rows[0]]).toEqual([5, 6, 7]);
  });
});
