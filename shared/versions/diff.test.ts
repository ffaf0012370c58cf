import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../util/random.ts';
import { applyDelta, dmpDiff, dmpPatchText, encodeDelta, lineDiff, lineTokens, makeDelta, tokenDiff, wordDiff, wordTokens, type DiffFn, type Edit } from './diff.ts';

const diffs: Array<[string, DiffFn]> = [
  ['dmp', dmpDiff],
  ['word', wordDiff],
  ['line', lineDiff],
];

const oldText = 'The jury said Friday an investigation of the election produced no evidence.\n\nIt said the committee deserves praise.';
const newText = 'The grand jury said Friday an inquiry of the election produced no evidence.\n\nIt said the committee deserves praise and thanks.';

/** old text and new text of a diff */
const sides = (d: Edit[]) => [d.filter(([op]) => op <= 0).map(([, t]) => t).join(''), d.filter(([op]) => op >= 0).map(([, t]) => t).join('')];

describe.each(diffs)('%s diff', (_name, diff) => {
  it('gives back both texts exactly', () => {
    expect(sides(diff(oldText, newText))).toEqual([oldText, newText]);
  });

  it('round-trips through the delta, byte for byte', () => {
    expect(applyDelta(oldText, makeDelta(oldText, newText, diff))).toBe(newText);
  });

  it('handles empty texts and identical texts', () => {
    for (const [a, b] of [['', ''], ['', 'x y'], ['x y', ''], [oldText, oldText]]) expect(applyDelta(a, makeDelta(a, b, diff))).toBe(b);
  });

  it('round-trips random edits of random texts (whitespace runs, newlines, non-ASCII)', () => {
    const rand = mulberry32(3);
    const alphabet = ['a', 'b', 'c', ' ', '  ', '\n', '\n\n', 'é', '😀', '.'];
    const randomText = (n: number) => Array.from({ length: n }, () => alphabet[Math.floor(rand() * alphabet.length)]).join('');
    for (let i = 0; i < 200; i++) {
      const a = randomText(Math.floor(rand() * 60));
      let b = a;
      for (let e = 0; e < 3; e++) {
        const at = Math.floor(rand() * (b.length + 1));
        b = rand() < 0.5 ? b.slice(0, at) + randomText(3) + b.slice(at) : b.slice(0, at) + b.slice(at + 2);
      }
      expect(applyDelta(a, makeDelta(a, b, diff))).toBe(b);
    }
  });
});

describe('delta encoding', () => {
  it('a one-word change costs about the word, not the text', () => {
    const text = 'word '.repeat(2_000);
    const edited = text.slice(0, 5_000) + 'changed ' + text.slice(5_000);
    expect(makeDelta(text, edited, dmpDiff).length).toBeLessThan(20);
    expect(makeDelta(text, edited, wordDiff).length).toBeLessThan(20);
  });

  it('a line diff pays for the whole line', () => {
    const para = 'word '.repeat(200);
    const text = `${para}\n\n${para}`;
    const edited = `${para}\n\nnew ${para}`;
    expect(makeDelta(text, edited, lineDiff).length).toBeGreaterThan(1_000);
    expect(makeDelta(text, edited, wordDiff).length).toBeLessThan(20);
  });

  it('refuses a delta applied to a text it was not made for', () => {
    const delta = makeDelta(oldText, newText, dmpDiff);
    expect(() => applyDelta(`${oldText}!`, delta)).toThrow(RangeError);
  });

  it('carries half a surrogate pair when a character diff cuts one', () => {
    const d: Edit[] = [[0, 'a'], [1, '\ud83d'], [0, '\ude00']];
    expect(applyDelta('a\ude00', encodeDelta(d))).toBe('a\ud83d\ude00');
  });

  it('tokens concatenate back to the text', () => {
    const t = ' a  b\n\nc \n';
    expect(wordTokens(t).join('')).toBe(t);
    expect(lineTokens(t).join('')).toBe(t);
    expect(tokenDiff([], [])).toEqual([]);
  });

  it("diff-match-patch's own patch text is larger than the binary delta", () => {
    expect(Buffer.byteLength(dmpPatchText(oldText, newText))).toBeGreaterThan(makeDelta(oldText, newText, dmpDiff).length);
  });
});
