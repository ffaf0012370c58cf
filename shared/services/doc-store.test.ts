import { describe, expect, it } from 'vitest';
import { isRagError } from '../errors.ts';
import { MemoryDocStore } from './doc-store.ts';

const docs = ['c', 'a', 'e', 'b', 'd'].map((id, i) => ({ id, title: id.toUpperCase(), text: `Text of ${id}. `.repeat(200), metadata: { genre: i % 2 ? 'x' : 'y' } }));

describe('MemoryDocStore', () => {
  it('lists ids in id order, from a key or an offset, with a genre filter, and says whether more follow', async () => {
    const s = MemoryDocStore.fromDocs(docs);
    expect(await s.list({ first: 2 })).toEqual({ ids: ['a', 'b'], more: true });
    expect(await s.list({ first: 2, afterId: 'b' })).toEqual({ ids: ['c', 'd'], more: true });
    expect(await s.list({ first: 2, afterId: 'bb' })).toEqual({ ids: ['c', 'd'], more: true });
    expect(await s.list({ first: 2, offset: 3 })).toEqual({ ids: ['d', 'e'], more: false });
    expect(await s.list({ first: 5, genre: 'x' })).toEqual({ ids: ['a', 'b'], more: false });
    expect(await s.list({ first: 1, afterId: 'a', genre: 'y' })).toEqual({ ids: ['c'], more: true });
    await expect(s.list({ first: -1 })).rejects.toSatisfy((e) => isRagError(e, 'INVALID_INPUT'));
  });

  it('counts one look-up per call whatever the number of ids, and answers in the order asked', async () => {
    const s = MemoryDocStore.fromDocs(docs);
    const got = await s.getDocuments(['e', 'zz', 'a']);
    expect(got.map((d) => d?.title)).toEqual(['E', undefined, 'A']);
    const chunks = await s.getChunks(['a', 'zz'], 2);
    expect(chunks[0].length).toBeGreaterThan(0);
    expect(chunks[0].length).toBeLessThanOrEqual(2);
    expect(chunks[1]).toEqual([]);
    expect(s.stats).toEqual({ lookups: 2, keys: 5, byKind: { list: 0, documents: 1, chunks: 1 } });
    s.resetStats();
    expect(s.stats.lookups).toBe(0);
  });

  it('keeps the order through puts, replacements and removals', async () => {
    const s = MemoryDocStore.fromDocs(docs);
    s.put([{ id: 'bb', text: 'x' }, { id: 'a', title: 'A2', text: 'y' }]);
    expect(s.allIds()).toEqual(['a', 'b', 'bb', 'c', 'd', 'e']);
    expect((await s.getDocuments(['a']))[0]?.title).toBe('A2');
    expect(s.remove(['b', 'nope', 'e'])).toBe(2);
    expect(s.allIds()).toEqual(['a', 'bb', 'c', 'd']);
  });
});
