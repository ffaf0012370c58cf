import { Tokenizer } from '@huggingface/tokenizers';
import { readFile } from 'node:fs/promises';
import { RagError } from '../errors.ts';

/**
 * A Hugging Face `tokenizer.json` (what a sentence-transformers export ships: BertNormalizer, BertPreTokenizer,
 * WordPiece, a [CLS] $A [SEP] post-processor) read offline with `@huggingface/tokenizers`, Hugging Face's pure
 * TypeScript port of its tokenizers (the one transformers.js uses; no dependencies, no native code, no install
 * script, nothing fetched: it takes the parsed JSON).
 *
 * That library does not apply the file's `truncation` section, so truncation happens here, as the Rust tokenizers do
 * it for one sequence: the text's own tokens are cut to `maxLength` minus the special tokens the post-processor adds
 * (from the right, or from the left for `"direction": "Left"`), then [CLS] and [SEP] are added. A transformer cannot
 * take more tokens than its position table has rows, so a long text must be cut somewhere; sentence-transformers
 * cuts at its `max_seq_length` (256 for all-MiniLM-L6-v2), which is why `maxLength` wins over the file.
 */

/** Truncation length when neither the caller nor `tokenizer.json` gives one: all-MiniLM-L6-v2's `max_seq_length`. */
export const DEFAULT_MAX_LENGTH = 256;

export interface TokenizerOptions {
  /**
   * Longest token sequence, special tokens included. Default: `truncation.max_length` of `tokenizer.json`, else
   * `DEFAULT_MAX_LENGTH` (256).
   */
  maxLength?: number;
}

export interface TextTokenizer {
  /** Longest sequence `encode` returns (special tokens included). */
  readonly maxLength: number;
  /** Special tokens the post-processor adds to one text (2 for [CLS] … [SEP]). */
  readonly specialTokens: number;
  /** One text → model ids, special tokens added, truncated to `maxLength`. */
  encode(text: string): number[];
  /** One text → token strings (the same sequence `encode` returns ids of): for tests and for reading. */
  tokens(text: string): string[];
}

/** Read `tokenizer.json` and build the tokenizer. Throws RagError NOT_FOUND (no file) or CORRUPT (not a tokenizer). */
export async function loadTokenizer(file: string, opts: TokenizerOptions = {}): Promise<TextTokenizer> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new RagError('NOT_FOUND', `tokenizer: cannot read ${file}: ${(err as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new RagError('CORRUPT', `tokenizer: ${file} is not JSON: ${(err as Error).message}`);
  }
  return tokenizerFromJson(json, { ...opts, source: file });
}

/** Build the tokenizer from a parsed `tokenizer.json`. `source` names it in error messages. */
export function tokenizerFromJson(json: unknown, opts: TokenizerOptions & { source?: string } = {}): TextTokenizer {
  const source = opts.source ?? 'tokenizer.json';
  if (json === null || typeof json !== 'object' || Array.isArray(json)) throw new RagError('CORRUPT', `tokenizer: ${source} is not a JSON object`);
  const spec = json as Record<string, unknown>;
  let tok: Tokenizer;
  try {
    // the second argument is tokenizer_config.json; nothing in it matters for encoding a BERT-style tokenizer
    tok = new Tokenizer({ added_tokens: [], ...spec }, {});
  } catch (err) {
    throw new RagError('CORRUPT', `tokenizer: ${source} is not a tokenizer the library can read: ${(err as Error).message}`);
  }
  if (!tok.model) throw new RagError('CORRUPT', `tokenizer: ${source} has no model section`);

  const truncation = spec.truncation as { max_length?: unknown; direction?: unknown } | null | undefined;
  const maxLength = opts.maxLength ?? (typeof truncation?.max_length === 'number' ? truncation.max_length : DEFAULT_MAX_LENGTH);
  const fromLeft = truncation?.direction === 'Left';
  const post = tok.post_processor;
  const specialTokens = post ? post([], null, true).tokens.length : 0;
  if (!Number.isInteger(maxLength) || maxLength <= specialTokens) {
    throw new RagError('INVALID_INPUT', `tokenizer(${source}): maxLength must be an integer > ${specialTokens} (the special tokens), got ${maxLength}`);
  }
  const unkId = tok.model.unk_token_id;

  const tokens = (text: string): string[] => {
    let body = tok.tokenize(text, { add_special_tokens: false });
    const room = maxLength - specialTokens;
    if (body.length > room) body = fromLeft ? body.slice(body.length - room) : body.slice(0, room);
    return post ? post(body, null, true).tokens : body;
  };
  const toId = (t: string): number => {
    const id = tok.token_to_id(t) ?? unkId;
    if (id === undefined) throw new RagError('INVALID_INPUT', `tokenizer(${source}): token '${t}' is not in the vocabulary and the model has no unknown token`);
    return id;
  };
  return {
    maxLength,
    specialTokens,
    encode: (text) => tokens(text).map(toId),
    tokens,
  };
}
