/**
 * A tiny "bring your own model" folder for tests, no download: a seeded encoder of `TINY_ENCODER`'s shape and a
 * WordPiece `tokenizer.json` in the Hugging Face format (as a sentence-transformers export ships them).
 *
 * The vocabulary: 5 special tokens, punctuation, 60 words, 8 suffixes (`##s`, `##ed`, …) and 238 syllables (with
 * their `##` forms): 555 tokens, so that words outside the list split into pieces and a word with an `x` is [UNK].
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buildEncoderModel, TINY_ENCODER } from './encoder.ts';

export const SPECIALS = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'];
const PUNCT = ['.', ',', '!', '?', "'", '-'];
export const WORDS = (
  'the a an of to in on and is are was were cat dog bird fish jump run walk swim quick slow fast red blue green ' +
  'model vector search index query text word token cafe book read write learn teach small large old new day night ' +
  'sun moon tree river stone house city road ship train car engine fire water'
).split(' ');
const SUFFIXES = ['##s', '##ed', '##ing', '##ly', '##er', '##est', '##ion', '##al'];
const CONSONANTS = 'bcdfghklmnprstvwz'.split('');
const VOWELS = 'aeiou'.split('');
const SYLLABLES: string[] = [];
for (const c of CONSONANTS) for (const v of VOWELS) SYLLABLES.push(c + v); // 85
for (const c of CONSONANTS) for (const v of VOWELS.slice(0, 3)) for (const e of ['n', 'r', 'l']) SYLLABLES.push(c + v + e); // 153
export const VOCAB = [...SPECIALS, ...PUNCT, ...WORDS, ...SUFFIXES, ...SYLLABLES, ...SYLLABLES.map((s) => `##${s}`)];
const ID = new Map(VOCAB.map((t, i) => [t, i]));
export const id = (t: string): number => {
  const i = ID.get(t);
  if (i === undefined) throw new Error(`test vocabulary has no '${t}'`);
  return i;
};

/** The file as the `tokenizers` library writes it for bert-base-uncased / all-MiniLM-L6-v2 (vocabulary aside). */
export function tokenizerJson(maxLength: number | null): unknown {
  const special = (t: string, type = 0) => ({ SpecialToken: { id: t, type_id: type } });
  return {
    version: '1.0',
    truncation: maxLength === null ? null : { direction: 'Right', max_length: maxLength, strategy: 'LongestFirst', stride: 0 },
    padding: null,
    added_tokens: SPECIALS.map((content, i) => ({ id: i, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
    normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase: true },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: {
      type: 'TemplateProcessing',
      single: [special('[CLS]'), { Sequence: { id: 'A', type_id: 0 } }, special('[SEP]')],
      pair: [special('[CLS]'), { Sequence: { id: 'A', type_id: 0 } }, special('[SEP]'), { Sequence: { id: 'B', type_id: 1 } }, special('[SEP]', 1)],
      special_tokens: {
        '[CLS]': { id: '[CLS]', ids: [id('[CLS]')], tokens: ['[CLS]'] },
        '[SEP]': { id: '[SEP]', ids: [id('[SEP]')], tokens: ['[SEP]'] },
      },
    },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##', max_input_chars_per_word: 100, vocab: Object.fromEntries(ID) },
  };
}

export const ENCODER = { ...TINY_ENCODER, vocab: VOCAB.length, weightStd: 0.2, biasStd: 0.1, normStd: 0.1 };

/** Writes `model.onnx` + `tokenizer.json` (truncation at `maxLength`, default 24) to `dir` (created). Returns `dir`. */
export async function writeTinyModelDir(dir: string, opts: { maxLength?: number | null; seed?: number } = {}): Promise<string> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'model.onnx'), buildEncoderModel({ ...ENCODER, ...(opts.seed !== undefined ? { seed: opts.seed } : {}) }));
  await writeFile(join(dir, 'tokenizer.json'), JSON.stringify(tokenizerJson(opts.maxLength === undefined ? 24 : opts.maxLength)));
  return dir;
}
