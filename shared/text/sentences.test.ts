import { describe, expect, it } from 'vitest';
import { splitSentences } from './sentences.ts';

describe('splitSentences', () => {
  it('splits on . ! ? followed by a capital', () => {
    expect(splitSentences('It rained. Was it cold? Yes! Very.')).toEqual(['It rained.', 'Was it cold?', 'Yes!', 'Very.']);
  });
  it('does not split after common abbreviations or initials', () => {
    expect(splitSentences('Mr. Smith met Dr. Jones at 5 p.m. yesterday. They talked.')).toEqual([
      'Mr. Smith met Dr. Jones at 5 p.m. yesterday.',
      'They talked.',
    ]);
    expect(splitSentences('J. F. Kennedy visited the U.S. Navy. It was 1961.')).toEqual([
      'J. F. Kennedy visited the U.S. Navy.',
      'It was 1961.',
    ]);
    expect(splitSentences('Use a tool, e.g. a hammer, i.e. Thor. Then stop.')).toEqual([
      'Use a tool, e.g. a hammer, i.e. Thor.',
      'Then stop.',
    ]);
  });
  it('keeps decimals and numbers together', () => {
    expect(splitSentences('The ratio was 3.5 at Mach 2.25. See No. 4 for details.')).toEqual([
      'The ratio was 3.5 at Mach 2.25.',
      'See No. 4 for details.',
    ]);
  });
  it('treats "no." before a capital as the end of a sentence', () => {
    expect(splitSentences('The answer was no. The end.')).toEqual(['The answer was no.', 'The end.']);
  });
  it('keeps closing quotes with their sentence and splits before an opening quote', () => {
    expect(splitSentences('He said "stop." "Why?" she asked.')).toEqual(['He said "stop."', '"Why?" she asked.']);
  });
  it('does not split before a lower-case word', () => {
    expect(splitSentences('It was approx. ten feet.')).toEqual(['It was approx. ten feet.']);
    expect(splitSentences('See fig. three.')).toEqual(['See fig. three.']);
  });
  it('splits at blank lines and at free-standing periods', () => {
    expect(splitSentences('A heading\n\nthe body text')).toEqual(['A heading', 'the body text']);
    expect(splitSentences('a kite in the wind . a field trial .')).toEqual([
      'a kite in the wind .',
      'a field trial .',
    ]);
  });
  it('returns trimmed, non-empty sentences', () => {
    expect(splitSentences('   ')).toEqual([]);
    expect(splitSentences('  One sentence without a stop  ')).toEqual(['One sentence without a stop']);
  });
});
