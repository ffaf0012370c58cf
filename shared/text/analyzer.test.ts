import { describe, expect, it } from 'vitest';
import { createAnalyzer, defaultAnalyzer } from './analyzer.ts';

describe('analyzer', () => {
  it('stems with Porter', () => {
    expect(defaultAnalyzer.analyze('running runs runner')).toEqual(['run', 'run', 'runner']);
    expect(defaultAnalyzer.analyze('connections connected')).toEqual(['connect', 'connect']);
  });
  it('removes English stop words before stemming', () => {
    expect(defaultAnalyzer.analyze('The effect of the wind on a kite')).toEqual(['effect', 'wind', 'kite']);
  });
  it('gives a document and a query the same terms for the same words', () => {
    const doc = defaultAnalyzer.analyze('Boundary layers were investigated experimentally.');
    const query = defaultAnalyzer.analyze('investigating boundary layer');
    expect(query.every((t) => doc.includes(t))).toBe(true);
  });
  it('can keep stop words, skip stemming, use its own list and a minimum length', () => {
    expect(createAnalyzer({ stem: false, stopwords: false }).analyze('The running dogs')).toEqual(['the', 'running', 'dogs']);
    expect(createAnalyzer({ stopwords: ['dogs'] }).analyze('The running dogs')).toEqual(['the', 'run']);
    expect(createAnalyzer({ minLength: 3 }).analyze("Atlanta's 3 go-karts")).toEqual(['atlanta', 'kart']);
  });
  it('keeps stemming correctly after its memo is cleared', () => {
    const a = createAnalyzer({ memoSize: 2 });
    const words = 'running jumped happily cities running jumped'.split(' ');
    expect(a.analyze(words.join(' '))).toEqual(['run', 'jump', 'happili', 'citi', 'run', 'jump']);
  });
});
