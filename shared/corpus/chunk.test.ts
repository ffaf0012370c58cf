import { describe, expect, it } from 'vitest';
import { RagError } from '../errors.ts';
import type { Doc } from '../types.ts';
import { chunkDocument, validateDoc } from './chunk.ts';

/** Sentence i has `len` words: "S<i>w1 … S<i>w<len>." (each word names its sentence). */
function sentence(i: number, len: number): string {
  return Array.from({ length: len }, (_, j) => `s${i}w${j + 1}`).join(' ') + '.';
}
function capitalised(i: number, len: number): string {
  const s = sentence(i, len);
  return s[0].toUpperCase() + s.slice(1);
}
const words = (text: string) => text.split(/\s+/).filter(Boolean);

describe('chunkDocument', () => {
  const doc: Doc = {
    id: 'doc-1',
    title: 'A title',
    text: Array.from({ length: 30 }, (_, i) => capitalised(i, 12 + (i % 7))).join(' '),
    metadata: { genre: 'news', year: 1961 },
  };

  it('packs whole sentences up to maxTokens', () => {
    const chunks = chunkDocument(doc, { maxTokens: 60, overlapTokens: 20 });
    expect(chunks.length).toBeGreaterThan(5);
    for (const c of chunks) {
      expect(c.tokens).toBe(words(c.text).length);
      expect(c.tokens).toBeLessThanOrEqual(60);
      expect(c.text).toMatch(/^S\d+w1 .*\.$/); // starts and ends on sentence boundaries
    }
    // every sentence is in some chunk
    const all = chunks.map((c) => c.text).join(' ');
    for (let i = 0; i < 30; i++) expect(all).toContain(`S${i}w1 `);
  });

  it('overlaps by the trailing sentences that fit in overlapTokens', () => {
    const chunks = chunkDocument(doc, { maxTokens: 60, overlapTokens: 20 });
    for (let i = 1; i < chunks.length; i++) {
      const prev = chunks[i - 1].text;
      const firstSentence = /^S(\d+)w1/.exec(chunks[i].text)![1];
      expect(prev).toContain(`S${firstSentence}w1 `); // starts with a sentence the previous chunk ended with
      const carried = chunks[i].text.slice(0, chunks[i].text.indexOf('.') + 1);
      expect(words(carried).length).toBeLessThanOrEqual(20);
      expect(prev.endsWith(carried) || prev.includes(carried)).toBe(true);
    }
    const none = chunkDocument(doc, { maxTokens: 60, overlapTokens: 0 });
    expect(none.reduce((n, c) => n + c.tokens, 0)).toBe(words(doc.text).length);
  });

  it('splits a sentence longer than maxTokens at word boundaries', () => {
    const long: Doc = { id: 'long', text: `${capitalised(0, 10)} ${capitalised(1, 500)} ${capitalised(2, 10)}` };
    const chunks = chunkDocument(long, { maxTokens: 100, overlapTokens: 20 });
    for (const c of chunks) expect(c.tokens).toBeLessThanOrEqual(100);
    const seen = new Set(chunks.flatMap((c) => words(c.text)));
    for (let j = 2; j <= 500; j++) expect(seen.has(`s1w${j}`) || seen.has(`s1w${j}.`)).toBe(true);
    for (let i = 1; i < chunks.length; i++) {
      const head = words(chunks[i].text).slice(0, 5).join(' ');
      expect(chunks[i - 1].text).toContain(head); // consecutive pieces overlap too
    }
  });

  it('keeps docId, position, title and a copy of metadata; ids are stable content hashes', () => {
    const a = chunkDocument(doc);
    const b = chunkDocument(structuredClone(doc));
    expect(a.map((c) => c.id)).toEqual(b.map((c) => c.id));
    expect(new Set(a.map((c) => c.id)).size).toBe(a.length);
    a.forEach((c, i) => {
      expect(c.id).toMatch(/^[0-9a-f]{16}$/);
      expect(c).toMatchObject({ docId: 'doc-1', position: i, title: 'A title', metadata: { genre: 'news', year: 1961 } });
      expect(c.metadata).not.toBe(doc.metadata);
    });
    const changed = chunkDocument({ ...doc, text: doc.text.replace('S0w1', 'S0wX') });
    expect(changed[0].id).not.toBe(a[0].id);
    expect(chunkDocument({ id: 'e', text: '  \n ' })).toEqual([]);
    expect(chunkDocument({ id: 'f', text: 'Short.' })[0]).toMatchObject({ text: 'Short.', tokens: 1, metadata: {} });
  });

  it('rejects bad options', () => {
    expect(() => chunkDocument(doc, { maxTokens: 0 })).toThrow(RagError);
    expect(() => chunkDocument(doc, { maxTokens: 50, overlapTokens: 50 })).toThrow(/overlapTokens/);
  });
});

describe('validateDoc', () => {
  it('returns a typed document', () => {
    expect(validateDoc({ id: 'a', text: 't', title: 'x', metadata: { n: 1, ok: true } }, 0)).toEqual({
      id: 'a',
      text: 't',
      title: 'x',
      metadata: { n: 1, ok: true },
    });
  });
  it.each([
    [null, 'document #3: expected an object'],
    [[1], 'document #3: expected an object'],
    [{ text: 'x' }, 'document #3: id must be a non-empty string, got undefined'],
    [{ id: '', text: 'x' }, 'document #3: id must be a non-empty string, got an empty string'],
    [{ id: 5, text: 'x' }, 'document #3: id must be a non-empty string, got number'],
    [{ id: 'a' }, 'document #3 (a): text must be a string, got undefined'],
    [{ id: 'a', text: 'x', title: 3 }, 'document #3 (a): title must be a string when present, got number'],
    [{ id: 'a', text: 'x', metadata: [] }, 'document #3 (a): metadata must be an object when present, got an array'],
    [{ id: 'a', text: 'x', metadata: { k: { deep: 1 } } }, 'document #3 (a): metadata.k must be a string, finite number or boolean, got object'],
    [{ id: 'a', text: 'x', metadata: { k: NaN } }, 'document #3 (a): metadata.k must be a string, finite number or boolean, got NaN'],
  ])('rejects %j', (input, message) => {
    const err = (() => {
      try {
        validateDoc(input, 3);
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(RagError);
    expect((err as RagError).code).toBe('INVALID_INPUT');
    expect((err as RagError).message).toBe(message);
  });
});
