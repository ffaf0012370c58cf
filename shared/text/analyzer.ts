import { stemmer } from 'stemmer';
import { eng } from 'stopword';
import { tokenize } from './tokenize.ts';

/**
 * Text → index terms. The same analyzer must be used for documents and queries, or their terms will not meet.
 */
export interface Analyzer {
  analyze(text: string): string[];
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
}

/** tokenize → drop stop words and short tokens → Porter stem (memoised). */
export function createAnalyzer(opts: AnalyzerOptions = {}): Analyzer {
  const stem = opts.stem ?? true;
  const minLength = opts.minLength ?? 1;
  const memoSize = opts.memoSize ?? 200_000;
  const sw = opts.stopwords ?? true;
  const stop: ReadonlySet<string> =
    sw === true ? new Set(eng) : sw === false ? new Set() : new Set([...sw].map((w) => w.toLowerCase()));
  const memo = new Map<string, string>();

  const stemOf = (word: string): string => {
    let s = memo.get(word);
    if (s === undefined) {
      if (memo.size >= memoSize) memo.clear();
      s = stemmer(word);
      memo.set(word, s);
    }
    return s;
  };

  return {
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
