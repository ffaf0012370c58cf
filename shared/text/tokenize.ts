/**
 * Word tokenizer shared by indexing and querying: lower-cased runs of Unicode letters, digits and combining marks.
 * Everything else (spaces, punctuation, symbols) separates tokens.
 *
 * Apostrophes: an English clitic after an internal apostrophe is dropped ("atlanta's" → "atlanta", "don't" → "don",
 * "we'll" → "we"); any other internal apostrophe splits the word ("o'brien" → "o", "brien").
 *
 * One regex pass over the lower-cased text; no per-character allocation.
 */
const WORD = /[\p{L}\p{N}\p{M}]+(?:['’][\p{L}\p{N}\p{M}]+)*/gu;
const CLITIC = /^(?:s|t|ll|re|ve|d|m)$/;
const APOS = /['’]/;

export function tokenize(text: string): string[] {
  const matches = text.toLowerCase().match(WORD);
  if (matches === null) return [];
  let out: string[] | null = null; // allocated only when a token contains an apostrophe
  for (let i = 0; i < matches.length; i++) {
    const m = matches[i];
    if (!APOS.test(m)) {
      if (out !== null) out.push(m);
      continue;
    }
    if (out === null) out = matches.slice(0, i);
    const parts = m.split(APOS);
    out.push(parts[0]);
    for (let j = 1; j < parts.length; j++) {
      if (j === parts.length - 1 && CLITIC.test(parts[j])) break;
      out.push(parts[j]);
    }
  }
  return out ?? matches;
}
