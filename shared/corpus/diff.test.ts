import { describe, expect, it } from 'vitest';
import type { Doc } from '../types.ts';
import { chunkDocument, indexText } from './chunk.ts';
import { diffChunks, diffDocuments, docFingerprint } from './diff.ts';

/** Sentence i: "S<i>w1 … S<i>w<len>." (each word names its sentence). */
function sentence(i: number, len = 12): string {
  const s = Array.from({ length: len }, (_, j) => `s${i}w${j + 1}`).join(' ') + '.';
  return s[0].toUpperCase() + s.slice(1);
}
const text = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => sentence(from + i)).join(' ');

const base: Doc = { id: 'd1', title: 'A title', text: text(0, 40), metadata: { genre: 'news', year: 1961 } };
const opts = { maxTokens: 60, overlapTokens: 12 };

describe('docFingerprint', () => {
  it('is the same for the same content, whatever the order of the metadata keys', () => {
    expect(docFingerprint(base)).toBe(docFingerprint({ ...base, metadata: { year: 1961, genre: 'news' } }));
    expect(docFingerprint(base)).toMatch(/^[0-9a-f]{32}$/);
  });

  it('changes with every field: id, title, text, metadata', () => {
    const fp = docFingerprint(base);
    expect(docFingerprint({ ...base, id: 'd2' })).not.toBe(fp);
    expect(docFingerprint({ ...base, title: 'Another title' })).not.toBe(fp);
    expect(docFingerprint({ ...base, title: undefined })).not.toBe(fp);
    expect(docFingerprint({ ...base, text: base.text + ' More.' })).not.toBe(fp);
    expect(docFingerprint({ ...base, metadata: { genre: 'news', year: 1962 } })).not.toBe(fp);
    expect(docFingerprint({ ...base, metadata: { genre: 'news', year: '1961' } })).not.toBe(fp);
    expect(docFingerprint({ ...base, metadata: undefined })).not.toBe(fp);
  });

  it('cannot be fooled by moving characters between fields', () => {
    expect(docFingerprint({ id: 'ab', title: 'c', text: 'd' })).not.toBe(docFingerprint({ id: 'a', title: 'bc', text: 'd' }));
    expect(docFingerprint({ id: 'a', title: '', text: 'x' })).not.toBe(docFingerprint({ id: 'a', text: 'x' }));
  });
});

describe('diffDocuments', () => {
  const docs: Doc[] = [0, 1, 2, 3].map((i) => ({ id: `d${i}`, text: text(i * 10, i * 10 + 5) }));
  const stored = diffDocuments(new Map(), docs).fingerprints;

  it('from nothing, every document is added', () => {
    const d = diffDocuments(new Map(), docs);
    expect(d.added.map((x) => x.id)).toEqual(['d0', 'd1', 'd2', 'd3']);
    expect(d.changed).toEqual([]);
    expect(d.removed).toEqual([]);
    expect(d.fingerprints.size).toBe(4);
  });

  it('finds added, changed, removed and unchanged documents', () => {
    const next = [docs[0], { ...docs[1], text: docs[1].text + ' New.' }, docs[3], { id: 'd9', text: 'Fresh.' }];
    const d = diffDocuments(stored, next);
    expect(d.added.map((x) => x.id)).toEqual(['d9']);
    expect(d.changed.map((x) => x.id)).toEqual(['d1']);
    expect(d.removed).toEqual(['d2']);
    expect(d.unchanged).toBe(2);
    expect([...d.fingerprints.keys()]).toEqual(['d0', 'd1', 'd3', 'd9']);
  });

  it('an identical version changes nothing', () => {
    const d = diffDocuments(stored, docs);
    expect(d).toMatchObject({ added: [], changed: [], removed: [], unchanged: 4 });
    expect(d.fingerprints).toEqual(stored);
  });

  it('a repeated id counts once, with its last version', () => {
    const edited = { ...docs[1], text: 'Edited.' };
    const d = diffDocuments(stored, [...docs, edited]);
    expect(d.changed).toEqual([edited]);
    expect(d.fingerprints.get('d1')).toBe(docFingerprint(edited));
    const back = diffDocuments(stored, [docs[0], edited, docs[1], docs[2], docs[3]]);
    expect(back.changed).toEqual([]);
    expect(back.unchanged).toBe(4);
    expect([...back.fingerprints.keys()]).toEqual(['d0', 'd1', 'd2', 'd3']);
  });
});

describe('diffChunks', () => {
  const old = chunkDocument(base, opts);

  it('pairs every chunk of an unchanged document with itself', () => {
    const d = diffChunks(old, chunkDocument(base, opts));
    expect(d.same).toHaveLength(old.length);
    expect(d.same.every((p) => p.old === p.next)).toBe(true);
    expect(d).toMatchObject({ moved: [], added: [], dropped: [] });
  });

  it('a paragraph appended at the end: only the last chunks are new', () => {
    const next = chunkDocument({ ...base, text: base.text + '\n\n' + text(100, 104) }, opts);
    const d = diffChunks(old, next);
    expect(d.added.length).toBeGreaterThan(0);
    expect(d.added.length).toBeLessThanOrEqual(2);
    expect(d.same.length).toBeGreaterThanOrEqual(old.length - 1);
    expect(d.added.every((n) => n >= old.length - 1)).toBe(true);
  });

  it('one word changed in the middle: only the chunks holding that sentence are new', () => {
    const next = chunkDocument({ ...base, text: base.text.replace('S20w3', 'changed') }, opts);
    const d = diffChunks(old, next);
    const holding = old.filter((c) => c.text.includes('S20w3')).length;
    expect(d.added).toHaveLength(holding);
    expect(d.dropped).toHaveLength(holding);
    expect(d.same).toHaveLength(old.length - holding);
  });

  it('a retitled document: every chunk is indexed under a new text, although every chunk id is the same', () => {
    const next = chunkDocument({ ...base, title: 'A new title' }, opts);
    expect(next.map((c) => c.id)).toEqual(old.map((c) => c.id));
    const d = diffChunks(old, next);
    expect(d.added).toHaveLength(old.length);
    expect(d.dropped).toHaveLength(old.length);
  });

  it('new metadata: same ids and texts, so the chunks move (stored again) without a new embedding', () => {
    const next = chunkDocument({ ...base, metadata: { genre: 'fiction', year: 1961 } }, opts);
    const d = diffChunks(old, next);
    expect(d.moved).toHaveLength(old.length);
    expect(d).toMatchObject({ same: [], added: [], dropped: [] });
  });

  it('a chunk that only moved (new id, same text) keeps its embedding', () => {
    const shifted = old.map((c) => ({ ...c, position: c.position + 1, id: `${c.id}-moved` }));
    const d = diffChunks(old, shifted);
    expect(d.moved).toHaveLength(old.length);
    expect(d.added).toEqual([]);
  });

  it('pairs one to one: a text repeated in the new version is embedded again for each extra copy', () => {
    const a = old[0];
    const d = diffChunks([a], [a, { ...a, position: 1, id: 'copy' }]);
    expect(d.same).toEqual([{ old: 0, next: 0 }]);
    expect(d.added).toEqual([1]);
    expect(indexText(a)).toBe(indexText({ ...a, id: 'copy' }));
  });

  it('from nothing everything is added; to nothing everything is dropped', () => {
    expect(diffChunks([], old).added).toEqual(old.map((_, i) => i));
    expect(diffChunks(old, []).dropped).toEqual(old.map((_, i) => i));
  });
});
