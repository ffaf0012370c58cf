import { stemmer } from 'stemmer';
import { eng } from 'stopword';
import { tokenize } from './tokenize.ts';

/**
 * Text → index terms. The same analyzer must be used for documents and queries, or their terms will not meet.
 */
export interface Analyzer {
  analyze(text: string): string[];
  /** What the analyzer's memo holds now (entries, characters), where it has one. */
  memoUsage?(): { entries: number; chars: number };
}

export interface AnalyzerOptions {
  /** Reduce words to their Porter stem ("running" → "run"). Default true. */
  stem?: boolean;
  /** true: the English list of the `stopword` package; false: keep every word; or your own list. Default true. */
  stopwords?: boolean | Iterable<string>;
  /** Drop tokens shorter than this many characters (checked before stemming). Default 1. */
  minLength?: number;
  /** Entries in the stem memo before it is cleared. Default 200_000. */
  memoSize?: number;
  /**
   * Characters (words and their stems) in the stem memo before it is cleared: with `memoSize`, a bound on its bytes,
   * whatever text the analyzer is given (unique long queries included). Default 2,000,000 (about 4 MB of strings).
   */
  memoChars?: number;
}

/**
 * Only words up to this long are memoised; longer ones are stemmed every time. A token is a substring of the text it
 * was cut from, and V8 keeps a substring of 13 characters or more as a view into that text (a sliced string): a memo
 * entry for such a word would keep the whole text alive (a 4,096-character query per entry). Shorter substrings are
 * copies, so the memo holds only its own characters. Most English words are shorter.
 */
const MEMO_MAX_WORD = 12;

/** tokenize → drop stop words and short tokens → Porter stem (memoised). */
export function createAnalyzer(opts: AnalyzerOptions = {}): Analyzer {
  const stem = opts.stem ?? true;
  const minLength = opts.minLength ?? 1;
  const memoSize = opts.memoSize ?? 200_000;
  const memoChars = opts.memoChars ?? 2_000_000;
  let chars = 0;
  const sw = opts.stopwords ?? true;
  const stop: ReadonlySet<string> =
    sw === true ? new Set(eng) : sw === false ? new Set() : new Set([...sw].map((w) => w.toLowerCase()));
  const memo = new Map<string, string>();

  const stemOf = (word: string): string => {
    let s = memo.get(word);
    if (s === undefined) {
      s = stemmer(word);
      if (word.length > MEMO_MAX_WORD) return s;
      if (memo.size >= memoSize || chars + word.length + s.length > memoChars) {
        memo.clear();
        chars = 0;
      }
      memo.set(word, s);
      chars += word.length + s.length;
    }
    return s;
  };

  return {
    memoUsage: () => ({ entries: memo.size, chars }),
    analyze(text: string): string[] {
      const tokens = tokenize(text);
      const out: string[] = [];
      for (let i = 0; i < tokens.length; i++) {
        const t = tokens[i];
        if (t.length < minLength || stop.has(t)) continue;
        out.push(stem ? stemOf(t) : t);
      }
      return out;
    },
  };
}

/** The analyzer with default options (English stop words, Porter stemming). */
export const defaultAnalyzer: Analyzer = createAnalyzer();
