/**
 * A seeded model of how people edit a document, for histories of real Brown documents: each new version applies one
 * to three edits to the previous text, drawn from
 *
 *     change a word          45%   a word replaced by another word of the corpus (a correction, a rewording)
 *     insert a sentence      25%   a sentence from another document, after a sentence of this one
 *     delete a sentence      18%   one sentence removed with the space before it
 *     insert a paragraph      6%   two to four sentences from another document, as a new paragraph
 *     delete a paragraph      6%   one paragraph removed (never the last one left)
 *
 * Every version differs from the one before it.
 *
 * Donor sentences and replacement words come from the documents the model is built from, so inserted text is real
 * prose of the same corpus. Same documents + same seed = the same history, on every machine.
 *
 *     const model = createEditModel(await loadBrown({ limit: 60 }), 7);
 *     const versions = model.history(doc.text, 50);   // [v0 = doc.text, v1, …, v49]
 */
import { mulberry32 } from '../util/random.ts';
import { sentenceSpans, splitSentences } from '../text/sentences.ts';
import type { Doc } from '../types.ts';

export type EditKind = 'word' | 'insert-sentence' | 'delete-sentence' | 'insert-paragraph' | 'delete-paragraph';

export const EDIT_WEIGHTS: Readonly<Record<EditKind, number>> = {
  word: 0.45,
  'insert-sentence': 0.25,
  'delete-sentence': 0.18,
  'insert-paragraph': 0.06,
  'delete-paragraph': 0.06,
};

export interface EditModel {
  /** One new version of `text`: one to three edits. */
  edit(text: string): string;
  /** `count` versions starting with `text` itself (versions[0] === text). */
  history(text: string, count: number): string[];
  /** Edits made so far, by kind. */
  readonly made: Record<EditKind, number>;
}

const PARAGRAPH = '\n\n';

/** An edit model whose donor sentences and words come from `donors` (at least one document with words). */
export function createEditModel(donors: readonly Doc[], seed: number): EditModel {
  const rand = mulberry32(seed);
  const sentences: string[] = [];
  const words: string[] = [];
  for (const d of donors) {
    for (const s of splitSentences(d.text)) if (s.length >= 20 && !s.includes('\n')) sentences.push(s);
    for (const w of d.text.match(/[A-Za-z]{3,}/g) ?? []) words.push(w);
  }
  if (sentences.length === 0 || words.length === 0) throw new RangeError('createEditModel: the donor documents have no sentences');
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];
  const made: Record<EditKind, number> = { word: 0, 'insert-sentence': 0, 'delete-sentence': 0, 'insert-paragraph': 0, 'delete-paragraph': 0 };
  const kinds = Object.keys(EDIT_WEIGHTS) as EditKind[];

  const drawKind = (): EditKind => {
    let r = rand();
    for (const k of kinds) {
      r -= EDIT_WEIGHTS[k];
      if (r < 0) return k;
    }
    return 'word';
  };

  /** Character offsets of paragraph breaks ('\n\n'), plus the ends. */
  const paragraphBounds = (text: string): number[] => {
    const out = [0];
    for (let i = text.indexOf(PARAGRAPH); i >= 0; i = text.indexOf(PARAGRAPH, i + PARAGRAPH.length)) out.push(i);
    out.push(text.length);
    return out;
  };

  const apply = (text: string, kind: EditKind): string => {
    switch (kind) {
      case 'word': {
        const spans: number[] = [];
        for (const m of text.matchAll(/[A-Za-z]{3,}/g)) spans.push(m.index!, m.index! + m[0].length);
        if (spans.length === 0) return apply(text, 'insert-sentence');
        const i = 2 * Math.floor(rand() * (spans.length / 2));
        const old = text.slice(spans[i], spans[i + 1]);
        let word = pick(words);
        for (let tries = 0; word === old && tries < 8; tries++) word = pick(words);
        return text.slice(0, spans[i]) + word + text.slice(spans[i + 1]);
      }
      case 'insert-sentence': {
        const spans = sentenceSpans(text);
        const s = pick(sentences);
        if (spans.length === 0) return text.length === 0 ? s : `${text} ${s}`;
        const end = spans[2 * Math.floor(rand() * (spans.length / 2)) + 1];
        return `${text.slice(0, end)} ${s}${text.slice(end)}`;
      }
      case 'delete-sentence': {
        const spans = sentenceSpans(text);
        if (spans.length < 2 * 4) return apply(text, 'insert-sentence');
        const i = 2 * Math.floor(rand() * (spans.length / 2));
        let start = spans[i];
        let end = spans[i + 1];
        // with the space that separated it from its neighbour; a sentence that was a paragraph, with its break
        if (start > 0 && text[start - 1] === ' ') start--;
        else if (text[end] === ' ') end++;
        else if (text.startsWith(PARAGRAPH, end)) end += PARAGRAPH.length;
        else if (start >= PARAGRAPH.length && text.startsWith(PARAGRAPH, start - PARAGRAPH.length)) start -= PARAGRAPH.length;
        return text.slice(0, start) + text.slice(end);
      }
      case 'insert-paragraph': {
        const n = 2 + Math.floor(rand() * 3);
        const para = Array.from({ length: n }, () => pick(sentences)).join(' ');
        const bounds = paragraphBounds(text);
        const at = pick(bounds.slice(1)); // before a break, or at the end
        return `${text.slice(0, at)}${PARAGRAPH}${para}${text.slice(at)}`;
      }
      case 'delete-paragraph': {
        const bounds = paragraphBounds(text);
        if (bounds.length < 4) return apply(text, 'delete-sentence');
        // paragraph j spans bounds[j] .. bounds[j+1]; remove it with the break in front of it (or after, for the first)
        const j = Math.floor(rand() * (bounds.length - 1));
        if (j === 0) return text.slice(bounds[1] + PARAGRAPH.length);
        return text.slice(0, bounds[j]) + text.slice(bounds[j + 1]);
      }
    }
  };

  const edit = (text: string): string => {
    const n = 1 + (rand() < 0.35 ? 1 : 0) + (rand() < 0.15 ? 1 : 0);
    let out = text;
    for (let i = 0; i < n; i++) {
      const kind = drawKind();
      made[kind]++;
      out = apply(out, kind);
    }
    // a version is a change: if the edits cancelled out (a word replaced by itself), add a sentence
    return out === text ? apply(text, 'insert-sentence') : out;
  };

  return {
    edit,
    history(text, count) {
      const out = [text];
      for (let i = 1; i < count; i++) out.push(edit(out[i - 1]));
      return out;
    },
    made,
  };
}
