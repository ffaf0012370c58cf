import { beforeAll, describe, expect, it } from 'vitest';
import { loadBrown } from '../corpus/brown.ts';
import type { Doc } from '../types.ts';
import { createEditModel } from './edits.ts';

let docs: Doc[];
beforeAll(async () => {
  docs = await loadBrown({ limit: 12 });
});

describe('edit model', () => {
  it('same documents and seed, same history', () => {
    const a = createEditModel(docs, 5).history(docs[0].text, 20);
    const b = createEditModel(docs, 5).history(docs[0].text, 20);
    expect(a).toEqual(b);
    expect(a[0]).toBe(docs[0].text);
    expect(createEditModel(docs, 6).history(docs[0].text, 20)).not.toEqual(a);
  });

  it('makes small realistic edits of every kind, and the text stays about the same size', () => {
    const model = createEditModel(docs, 9);
    const h = model.history(docs[1].text, 200);
    for (const kind of Object.values(model.made)) expect(kind).toBeGreaterThan(0);
    for (let i = 1; i < h.length; i++) expect(h[i]).not.toBe(h[i - 1]);
    const ratio = h[h.length - 1].length / h[0].length;
    expect(ratio).toBeGreaterThan(0.5);
    expect(ratio).toBeLessThan(2);
    // paragraphs stay paragraphs: no run of three newlines, no paragraph that is empty
    expect(h[h.length - 1]).not.toMatch(/\n\n\n|\n\n | \n\n/);
  });

  it('refuses donors without sentences', () => {
    expect(() => createEditModel([{ id: 'x', text: '' }], 1)).toThrow(/no sentences/);
  });
});
