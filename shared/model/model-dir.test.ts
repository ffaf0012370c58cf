import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AttributeProto_AttributeType,
  ModelProtoSchema,
  NodeProtoSchema,
  TensorProto_DataType,
  TensorProtoSchema,
  ValueInfoProtoSchema,
} from 'onnx-buf';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isRagError } from '../errors.ts';
import { buildEncoderModel, encoderConfig } from './encoder.ts';
import { ENCODER, id, SPECIALS, tokenizerJson, VOCAB, WORDS } from './tiny-model-dir.ts';
import { loadModelDir, type ModelDirEmbedder } from './model-dir.ts';
import { GraphBuilder } from './onnx-build.ts';
import { OnnxEmbedder } from './onnx-embedder.ts';
import { loadTokenizer, tokenizerFromJson } from './tokenizer.ts';

/**
 * "Bring your own model", end to end without a download: a tiny seeded encoder and a WordPiece `tokenizer.json` in
 * the Hugging Face format (as a sentence-transformers export ships them) are written to a folder, and `loadModelDir`
 * must tokenise as BERT does and give the rows a direct run of the same model on the same ids gives.
 * The folder's vocabulary and tokenizer are in tiny-model-dir.ts.
 */

const HIDDEN = encoderConfig(ENCODER).hidden;
const FILE_MAX_LENGTH = 24;

/** Known sentences and their ids, written out by hand from BERT's rules. */
const KNOWN: [string, string[]][] = [
  // lowercase, punctuation split off, suffixes as ## pieces
  ['The cats jumped quickly!', ['[CLS]', 'the', 'cat', '##s', 'jump', '##ed', 'quick', '##ly', '!', '[SEP]']],
  // accents stripped (strip_accents follows lowercase); a word built from syllables; 'banora' is [UNK] because
  // WordPiece is greedy without backtracking ('ban' is taken, and no piece matches the rest, '##ora'); no piece has x
  ['Café bazimo banora xylophone.', ['[CLS]', 'cafe', 'ba', '##zi', '##mo', '[UNK]', '[UNK]', '.', '[SEP]']],
  // any whitespace separates words; an apostrophe is a word of its own, and a lone 's' is not in the vocabulary
  ["  dog's\tsearch\n\nindex ", ['[CLS]', 'dog', "'", '[UNK]', 'search', 'index', '[SEP]']],
  ['', ['[CLS]', '[SEP]']],
];

const LONG = Array.from({ length: 40 }, (_, i) => WORDS[(i * 7) % WORDS.length]).join(' ');
const TEXTS = ['The cats jumped quickly!', 'a red ship', 'search the vector index for a query text', LONG, 'Café bazimo banora xylophone.', '', 'dog'];

let root: string;
const dirs: Record<string, string> = {};
const embedders: ModelDirEmbedder[] = [];

async function modelDir(name: string, files: Record<string, Uint8Array | string>): Promise<string> {
  const dir = join(root, name);
  await mkdir(dir);
  for (const [f, content] of Object.entries(files)) await writeFile(join(dir, f), content);
  dirs[name] = dir;
  return dir;
}

async function load(dir: string, opts: Parameters<typeof loadModelDir>[1] = {}): Promise<ModelDirEmbedder> {
  const e = await loadModelDir(dir, { intraOpNumThreads: 1, ...opts });
  embedders.push(e);
  return e;
}

async function expectRagErrorAsync(p: Promise<unknown>, message: RegExp, code = 'INVALID_INPUT'): Promise<void> {
  let err: unknown;
  try {
    await p;
  } catch (e) {
    err = e;
  }
  expect(isRagError(err, code), String(err)).toBe(true);
  expect((err as Error).message).toMatch(message);
}

/**
 * The encoder without its pooling: the last LayerNorm's output as `last_hidden_state` [batch, seq, hidden], as an
 * Optimum export has it, plus a `token_type_ids` input that adds 1000 × type to every state, so feeding anything but
 * zeros moves the pooled row far from the encoder's own.
 */
function hiddenStateVariant(encoderBytes: Uint8Array): Uint8Array {
  const m = fromBinary(ModelProtoSchema, encoderBytes);
  const g = m.graph!;
  const lastNorm = g.node.filter((n) => n.opType === 'LayerNormalization').at(-1)!;
  const hidden = lastNorm.output[0];
  const dims = (names: (string | number)[]) => ({
    dim: names.map((d) => ({ value: typeof d === 'number' ? { case: 'dimValue' as const, value: BigInt(d) } : { case: 'dimParam' as const, value: d } })),
  });
  const info = (name: string, elemType: TensorProto_DataType, shape: (string | number)[]) =>
    create(ValueInfoProtoSchema, { name, type: { value: { case: 'tensorType', value: { elemType, shape: dims(shape) } } } });
  g.input.push(info('token_type_ids', TensorProto_DataType.INT64, ['batch', 'seq']));
  g.initializer.push(
    create(TensorProtoSchema, { name: 'tt_axes', dims: [1n], dataType: TensorProto_DataType.INT64, int64Data: [-1n] }),
    create(TensorProtoSchema, { name: 'tt_scale', dims: [], dataType: TensorProto_DataType.FLOAT, floatData: [1000] }),
  );
  const node = (opType: string, input: string[], output: string, attribute: { name: string; i: bigint }[] = []) =>
    create(NodeProtoSchema, {
      opType,
      name: `byo_${output}`,
      input,
      output: [output],
      attribute: attribute.map((a) => ({ ...a, type: AttributeProto_AttributeType.INT })),
    });
  g.node.push(
    node('Cast', ['token_type_ids'], 'tt_f', [{ name: 'to', i: BigInt(TensorProto_DataType.FLOAT) }]),
    node('Unsqueeze', ['tt_f', 'tt_axes'], 'tt_3d'),
    node('Mul', ['tt_3d', 'tt_scale'], 'tt_shift'),
    node('Add', [hidden, 'tt_shift'], 'last_hidden_state'),
  );
  g.output = [info('last_hidden_state', TensorProto_DataType.FLOAT, ['batch', 'seq', HIDDEN])];
  return toBinary(ModelProtoSchema, m);
}

/** A small graph over `input_ids` (and, unless left out, `attention_mask`) with one float output. */
function oddModel(opts: { mask: boolean; output: string }): Uint8Array {
  const g = new GraphBuilder('odd');
  const ids = g.input('input_ids', 'int64', ['batch', 'seq']);
  if (opts.mask) g.input('attention_mask', 'int64', ['batch', 'seq']);
  g.node('Cast', [ids], { to: 1 }, { outputs: [opts.output] });
  g.output(opts.output, 'float32', ['batch', 'seq']);
  return g.toBytes();
}

let encoderBytes: Uint8Array;
let byo: ModelDirEmbedder;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'model-dir-'));
  encoderBytes = buildEncoderModel(ENCODER);
  const tok = JSON.stringify(tokenizerJson(FILE_MAX_LENGTH));
  await modelDir('tiny-minilm', { 'model.onnx': encoderBytes, 'tokenizer.json': tok });
  await modelDir('hidden-states', { 'model.onnx': hiddenStateVariant(encoderBytes), 'tokenizer.json': tok });
  await modelDir('st-config', { 'model.onnx': encoderBytes, 'tokenizer.json': tok, 'sentence_bert_config.json': '{"max_seq_length": 12, "do_lower_case": false}' });
  await modelDir('no-truncation', { 'model.onnx': encoderBytes, 'tokenizer.json': JSON.stringify(tokenizerJson(null)) });
  await modelDir('no-model', { 'tokenizer.json': tok });
  await modelDir('no-tokenizer', { 'model.onnx': encoderBytes });
  await modelDir('bad-tokenizer', { 'model.onnx': encoderBytes, 'tokenizer.json': '{"model": ' });
  await modelDir('no-mask', { 'model.onnx': oddModel({ mask: false, output: 'sentence_embedding' }), 'tokenizer.json': tok });
  await modelDir('logits', { 'model.onnx': oddModel({ mask: true, output: 'logits' }), 'tokenizer.json': tok });
  await modelDir('flat-states', { 'model.onnx': oddModel({ mask: true, output: 'last_hidden_state' }), 'tokenizer.json': tok });
  byo = await load(dirs['tiny-minilm']);
});

afterAll(async () => {
  for (const e of embedders) await e.release();
  if (root) await rm(root, { recursive: true, force: true });
});

describe('tokenizer.json through @huggingface/tokenizers', () => {
  it('tokenises as BERT: lowercase, accents stripped, punctuation split, ## pieces, [UNK], [CLS] … [SEP]', async () => {
    const tok = await loadTokenizer(join(dirs['tiny-minilm'], 'tokenizer.json'));
    for (const [text, tokens] of KNOWN) {
      expect(tok.tokens(text), JSON.stringify(text)).toEqual(tokens);
      expect(tok.encode(text)).toEqual(tokens.map(id));
    }
    expect(tok.specialTokens).toBe(2);
  });

  it('truncates to the file\'s max_length, keeping [CLS] and [SEP] and the first words', async () => {
    const tok = await loadTokenizer(join(dirs['tiny-minilm'], 'tokenizer.json'));
    const whole = await loadTokenizer(join(dirs['no-truncation'], 'tokenizer.json'), { maxLength: 60 });
    expect(tok.maxLength).toBe(FILE_MAX_LENGTH);
    const full = whole.encode(LONG);
    expect(full.length).toBe(42); // 40 words, each one token, + [CLS] [SEP]
    const cut = tok.encode(LONG);
    expect(cut).toEqual([...full.slice(0, FILE_MAX_LENGTH - 1), id('[SEP]')]);
    // a text that fits is left alone
    expect(tok.encode('a red ship')).toEqual(whole.encode('a red ship'));
  });

  it('defaults to 256 without a truncation section; maxLength from the caller wins', async () => {
    const file = join(dirs['no-truncation'], 'tokenizer.json');
    expect((await loadTokenizer(file)).maxLength).toBe(256);
    const five = await loadTokenizer(file, { maxLength: 5 });
    expect(five.tokens('The cats jumped quickly!')).toEqual(['[CLS]', 'the', 'cat', '##s', '[SEP]']);
    // "direction": "Left" keeps the end of the text
    const spec = tokenizerJson(5) as { truncation: { direction: string } };
    spec.truncation.direction = 'Left';
    expect(tokenizerFromJson(spec).tokens('The cats jumped quickly!')).toEqual(['[CLS]', 'quick', '##ly', '!', '[SEP]']);
  });

  it('rejects a maxLength with no room for a token, a missing file and a file that is not a tokenizer', async () => {
    await expectRagErrorAsync(loadTokenizer(join(dirs['tiny-minilm'], 'tokenizer.json'), { maxLength: 2 }), /maxLength must be an integer > 2/);
    await expectRagErrorAsync(loadTokenizer(join(root, 'nowhere', 'tokenizer.json')), /cannot read .*tokenizer\.json/, 'NOT_FOUND');
    await expectRagErrorAsync(loadTokenizer(join(dirs['bad-tokenizer'], 'tokenizer.json')), /is not JSON/, 'CORRUPT');
  });
});

describe('loadModelDir: model.onnx + tokenizer.json → Embedder', () => {
  it('names itself after the folder, reads dim from the model and the pooled output', () => {
    expect(byo.name).toBe('onnx:tiny-minilm');
    expect(byo.dim).toBe(HIDDEN);
    expect(byo.output).toEqual({ name: 'sentence_embedding', pooling: 'graph' });
    expect(byo.tokenizer.maxLength).toBe(FILE_MAX_LENGTH);
  });

  it('gives unit rows equal to a direct run of the model on the hand-written ids', async () => {
    const ids = new Map(KNOWN.map(([text, tokens]) => [text, tokens.map(id)]));
    const direct = await OnnxEmbedder.create(encoderBytes, {
      name: 'direct',
      dim: HIDDEN,
      intraOpNumThreads: 1,
      tokenize: (t) => ids.get(t)!,
    });
    try {
      const texts = KNOWN.map(([t]) => t);
      const want = await direct.embed(texts);
      const got = await byo.embed(texts);
      for (let i = 0; i < texts.length; i++) {
        let norm = 0;
        for (let d = 0; d < byo.dim; d++) {
          norm += got[i][d] * got[i][d];
          expect(Math.abs(got[i][d] - want[i][d]), `text ${i} component ${d}`).toBeLessThan(1e-6);
        }
        expect(Math.sqrt(norm)).toBeCloseTo(1, 5);
      }
      // not a trivial equality: different texts give different rows
      expect(Math.abs(got[0][0] - got[1][0]) + Math.abs(got[0][1] - got[1][1])).toBeGreaterThan(1e-3);
    } finally {
      await direct.release();
    }
  });

  it('a batch of mixed lengths equals each text alone, and splitting by maxTokens changes nothing', async () => {
    const batch = await byo.embed(TEXTS);
    const split = await load(dirs['tiny-minilm'], { maxTokens: 20 });
    const small = await split.embed(TEXTS);
    for (let i = 0; i < TEXTS.length; i++) {
      const [alone] = await byo.embed([TEXTS[i]]);
      for (let d = 0; d < byo.dim; d++) {
        expect(Math.abs(batch[i][d] - alone[d]), `text ${i}`).toBeLessThan(1e-5);
        expect(Math.abs(small[i][d] - alone[d]), `text ${i}, split`).toBeLessThan(1e-5);
      }
    }
  });

  it('truncates: a long text embeds as its first maxLength tokens', async () => {
    const tok = await loadTokenizer(join(dirs['no-truncation'], 'tokenizer.json'), { maxLength: 60 });
    const firstWords = tok.tokens(LONG).slice(1, FILE_MAX_LENGTH - 1).join(' ');
    const [long] = await byo.embed([LONG]);
    const [prefix] = await byo.embed([firstWords]);
    for (let d = 0; d < byo.dim; d++) expect(Math.abs(long[d] - prefix[d])).toBeLessThan(1e-5);
    // without truncation the 42 tokens give another row (so the check above can fail)
    const untruncated = await load(dirs['no-truncation'], { maxLength: 60 });
    const [whole] = await untruncated.embed([LONG]);
    let diff = 0;
    for (let d = 0; d < byo.dim; d++) diff = Math.max(diff, Math.abs(whole[d] - long[d]));
    expect(diff).toBeGreaterThan(1e-3);
  });

  it('takes max_seq_length from sentence_bert_config.json, and the caller\'s maxLength over both', async () => {
    expect((await load(dirs['st-config'])).tokenizer.maxLength).toBe(12);
    expect((await load(dirs['st-config'], { maxLength: 40 })).tokenizer.maxLength).toBe(40);
  });

  it('pools last_hidden_state in TypeScript (mean over the mask, then L2) and feeds token_type_ids zeros', async () => {
    const hs = await load(dirs['hidden-states'], { name: 'hs' });
    expect(hs.name).toBe('hs');
    expect(hs.output).toEqual({ name: 'last_hidden_state', pooling: 'mean' });
    expect(hs.dim).toBe(HIDDEN);
    // padded batch: pooling that ignored the mask would average in the padding rows
    const got = await hs.embed(TEXTS);
    const want = await byo.embed(TEXTS);
    for (let i = 0; i < TEXTS.length; i++) {
      for (let d = 0; d < hs.dim; d++) expect(Math.abs(got[i][d] - want[i][d]), `text ${i} component ${d}`).toBeLessThan(1e-5);
    }
  });

  it('fails with a clear RagError on a missing file, a model without the inputs, and outputs it cannot pool', async () => {
    await expectRagErrorAsync(loadModelDir(dirs['no-model']), /cannot read .*model\.onnx \(a model folder holds model\.onnx and tokenizer\.json\)/, 'NOT_FOUND');
    await expectRagErrorAsync(loadModelDir(dirs['no-tokenizer']), /cannot read .*tokenizer\.json/, 'NOT_FOUND');
    await expectRagErrorAsync(loadModelDir(join(root, 'nowhere')), /cannot read .*model\.onnx/, 'NOT_FOUND');
    await expectRagErrorAsync(loadModelDir(dirs['bad-tokenizer']), /tokenizer\.json is not JSON/, 'CORRUPT');
    await expectRagErrorAsync(loadModelDir(dirs['no-mask']), /onnx:no-mask: the model has no input 'attention_mask' \(it has input_ids\)/);
    await expectRagErrorAsync(loadModelDir(dirs['logits']), /has none of the outputs sentence_embedding, last_hidden_state, token_embeddings \(it has logits\)/);
    await expectRagErrorAsync(loadModelDir(dirs['flat-states']), /output 'last_hidden_state' is float32 \[1, 2\]; expected float32 \[1, 2, dim\]/);
    await expectRagErrorAsync(loadModelDir(dirs['tiny-minilm'], { intraOpNumThreads: 0 }), /intraOpNumThreads must be a positive integer/);
  });
});
