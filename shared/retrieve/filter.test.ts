import { describe, expect, it } from 'vitest';
import { compileFilter, validateFilter } from './filter.ts';
import type { Chunk } from '../types.ts';

const chunk = (docId: string, metadata: Chunk['metadata']): Chunk => ({
  id: 'c', docId, position: 0, text: 't', tokens: 1, metadata,
});

describe('metadata filters', () => {
  it('matches every key (AND) and any value of an array (OR)', () => {
    const f = compileFilter({ genre: ['news', 'editorial'], year: 1961 });
    expect(f(chunk('a', { genre: 'news', year: 1961 }))).toBe(true);
    expect(f(chunk('a', { genre: 'editorial', year: 1961 }))).toBe(true);
    expect(f(chunk('a', { genre: 'news', year: 1962 }))).toBe(false);
    expect(f(chunk('a', { year: 1961 }))).toBe(false);
  });
  it('tests the document id with the docId key', () => {
    const f = compileFilter({ docId: 'brown/ca01' });
    expect(f(chunk('brown/ca01', {}))).toBe(true);
    expect(f(chunk('brown/ca02', {}))).toBe(false);
  });
  it('rejects malformed filters with a message naming the key', () => {
    expect(() => validateFilter('news')).toThrow(/filter must be an object/);
    expect(() => validateFilter([1])).toThrow(/filter must be an object/);
    expect(() => validateFilter({ genre: { $ne: 'x' } })).toThrow(/filter\.genre/);
    expect(() => validateFilter({ genre: [] })).toThrow(/filter\.genre is an empty array/);
    expect(validateFilter({})).toBeUndefined();
    expect(validateFilter(undefined)).toBeUndefined();
  });
});
