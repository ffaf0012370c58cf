import { describe, expect, it } from 'vitest';
import { tokenize } from './tokenize.ts';

describe('tokenize', () => {
  it('lower-cases and splits on anything that is not a letter or digit', () => {
    expect(tokenize('Hello, World! It is 3.5 km/h (approx.)')).toEqual(['hello', 'world', 'it', 'is', '3', '5', 'km', 'h', 'approx']);
  });
  it('drops clitics after an internal apostrophe', () => {
    expect(tokenize("Atlanta's jury didn't say we'll go")).toEqual(['atlanta', 'jury', 'didn', 'say', 'we', 'go']);
    expect(tokenize('Atlanta’s')).toEqual(['atlanta']);
  });
  it('splits other apostrophes and ignores leading or trailing quotes', () => {
    expect(tokenize("O'Brien 'quoted' rock'n'roll")).toEqual(['o', 'brien', 'quoted', 'rock', 'n', 'roll']);
  });
  it('keeps Unicode letters and digits', () => {
    expect(tokenize('Café Zürich naïve 東京 ½ ٣')).toEqual(['café', 'zürich', 'naïve', '東京', '½', '٣']);
  });
  it('returns an empty array for text without words', () => {
    expect(tokenize('')).toEqual([]);
    expect(tokenize(' -- ... !!')).toEqual([]);
  });
});
