/**
 * Rule-based sentence splitter for English prose.
 *
 * A sentence ends at `.`, `!` or `?` (plus any closing quotes or brackets) when followed by whitespace and then a
 * capital letter, an opening quote or bracket, or a digit — or by the end of the text. A blank line (paragraph break)
 * always ends a sentence, and so does a free-standing " . " (tokenised corpora such as Cranfield write periods that
 * way). A period does not end a sentence after a known abbreviation ("Mr.", "Dr.", "e.g.", "U.S."), after a single
 * letter (initials: "J. F. Kennedy"), or inside a number ("3.5", no whitespace follows).
 *
 * Returns trimmed, non-empty sentences in order.
 */
const ABBREVIATIONS = new Set([
  'mr', 'mrs', 'ms', 'dr', 'prof', 'sr', 'jr', 'st', 'mt', 'ft', 'vs', 'v', 'cf', 'al', 'approx',
  'fig', 'figs', 'eq', 'eqs', 'vol', 'vols', 'pp', 'dept', 'univ', 'inc', 'ltd', 'corp',
  'bros', 'gen', 'col', 'lt', 'capt', 'cmdr', 'sgt', 'maj', 'adm', 'gov', 'sen', 'rep', 'rev', 'hon', 'pres',
  'jan', 'feb', 'mar', 'apr', 'jun', 'jul', 'aug', 'sep', 'sept', 'oct', 'nov', 'dec', 'mon', 'tue', 'wed', 'thu',
  'fri', 'sat', 'sun', 'e.g', 'i.e', 'a.m', 'p.m', 'u.s', 'u.k', 'u.n', 'u.s.a', 'ph.d', 'b.a', 'm.a', 'd.c',
]);

/** Abbreviations that are also common words: only an abbreviation when a number follows ("No. 5", "ch. 3"). */
const NUMBER_ABBREVIATIONS = new Set(['no', 'nos', 'p', 'ch', 'sec', 'co', 'art']);

const TERMINATORS = new Set(['.', '!', '?']);
const CLOSERS = new Set(['"', "'", ')', ']', '}', '’', '”', '»']);

function isSpace(c: string): boolean {
  return c === ' ' || c === '\n' || c === '\t' || c === '\r' || c === '\f' || c === '\v' || c === '\u00a0';
}

/** Can `c` begin a new sentence? */
function isStarter(c: string): boolean {
  if (c >= 'A' && c <= 'Z') return true;
  if (c >= '0' && c <= '9') return true;
  if (c === '"' || c === "'" || c === '(' || c === '[' || c === '“' || c === '‘' || c === '«') return true;
  return c > '\u007f' && c !== c.toLowerCase() && c === c.toUpperCase();
}

/** The word ending just before index `end` (exclusive), lower-cased, without leading punctuation. */
function wordBefore(text: string, end: number): string {
  let s = end;
  while (s > 0 && !isSpace(text[s - 1])) s--;
  return text.slice(s, end).replace(/^[("'“‘\[]+/, '').toLowerCase();
}

function isAbbreviation(word: string, next: string): boolean {
  if (NUMBER_ABBREVIATIONS.has(word)) return next >= '0' && next <= '9';
  if (ABBREVIATIONS.has(word)) return true;
  if (/^\p{L}$/u.test(word)) return true; // an initial
  return /^(?:\p{L}\.)+\p{L}$/u.test(word); // dotted acronyms: u.s.a, e.g
}

export function splitSentences(text: string): string[] {
  const spans = sentenceSpans(text);
  const out: string[] = new Array(spans.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = text.slice(spans[2 * i], spans[2 * i + 1]);
  return out;
}

const TRIMMED = /\s/;

/**
 * The sentences of `text` as character spans: [start0, end0, start1, end1, …], each `text.slice(start, end)` being
 * what `splitSentences` returns (trimmed, non-empty). For callers that keep offsets instead of copies.
 */
export function sentenceSpans(text: string): number[] {
  const steps = sentenceSpanSteps(text, Infinity);
  let r = steps.next();
  while (!r.done) r = steps.next();
  return r.value;
}

/**
 * `sentenceSpans` in steps: the generator pauses (yields) after about every `stride` characters scanned and returns
 * the same spans when done, so a caller splitting a long text can let other work run in between (the engine's ingest,
 * shared/engine.ts). Default stride 8,192 characters.
 */
export function* sentenceSpanSteps(text: string, stride = 8_192): Generator<void, number[], void> {
  const out: number[] = [];
  let pauseAt = stride;
  const n = text.length;
  let start = 0;
  const emit = (end: number) => {
    let a = start;
    let b = end;
    while (a < b && TRIMMED.test(text[a])) a++;
    while (b > a && TRIMMED.test(text[b - 1])) b--;
    if (b > a) out.push(a, b);
    start = end;
  };
  for (let i = 0; i < n; i++) {
    if (i >= pauseAt) {
      pauseAt = i + stride;
      yield;
    }
    const c = text[i];
    if (c === '\n') {
      // blank line: paragraph break
      let j = i + 1;
      while (j < n && (text[j] === ' ' || text[j] === '\t' || text[j] === '\r')) j++;
      if (j < n && text[j] === '\n') {
        emit(i);
        i = j;
      }
      continue;
    }
    if (!TERMINATORS.has(c)) continue;
    let j = i + 1;
    while (j < n && (TERMINATORS.has(text[j]) || CLOSERS.has(text[j]))) j++;
    if (j >= n) {
      emit(n);
      break;
    }
    if (!isSpace(text[j])) continue; // "3.5", "e.g.," or "end.)x"
    let k = j;
    while (k < n && isSpace(text[k])) k++;
    if (k >= n) {
      emit(n);
      break;
    }
    const standalone = c === '.' && j === i + 1 && (i === 0 || isSpace(text[i - 1]));
    if (!standalone) {
      if (!isStarter(text[k])) continue;
      if (c === '.' && j === i + 1 && isAbbreviation(wordBefore(text, i), text[k])) continue;
    }
    emit(j);
    i = k - 1;
  }
  emit(n);
  return out;
}
