import { describe, expect, it } from 'vitest';
import { loadBrown } from '../corpus/brown.ts';
import { chunkDocument } from '../corpus/chunk.ts';
import { isRagError } from '../errors.ts';
import { createAnalyzer } from '../text/analyzer.ts';
import { mulberry32 } from '../util/random.ts';
import { extractiveAnswer, extractiveAnswerFromTable } from './extractive.ts';
import { SentenceTable } from './sentence-table.ts';

const analyzer = createAnalyzer();

describe('SentenceTable', () => {
  it('gives exactly the answers of extractiveAnswer on real text', async () => {
    const docs = await loadBrown({ limit: 20 });
    const chunks = docs.flatMap((d) => chunkDocument(d));
    const table = new SentenceTable();
    chunks.forEach((c, label) => table.add(label, c.text, analyzer));
    const rand = mulberry32(3);
    const idf = (t: string) => 1 + (t.charCodeAt(0) % 7) / 3; // any weight; both paths must use it alike
    let nonEmpty = 0;
    for (let q = 0; q < 300; q++) {
      // three hits drawn at random, a query made of words from the first one (and a word from nowhere)
      const labels = [0, 1, 2].map(() => Math.floor(rand() * chunks.length));
      const hits = labels.map((l) => ({ chunkId: chunks[l].id, docId: chunks[l].docId, text: chunks[l].text }));
      const words = hits[0].text.split(/\s+/);
      const at = Math.floor(rand() * words.length);
      const query = `${words.slice(at, at + 1 + Math.floor(rand() * 5)).join(' ')} ${q % 5 === 0 ? 'zzyzx' : ''}`;
      const want = extractiveAnswer(query, hits, analyzer, idf, { maxSentenceChars: 300 });
      const rows = labels.map((l) => table.row(l, chunks[l].text, analyzer));
      const got = extractiveAnswerFromTable(query, hits, rows, analyzer, table, idf, { maxSentenceChars: 300 });
      expect(got).toEqual(want);
      if (want.text !== '') nonEmpty++;
    }
    expect(nonEmpty).toBeGreaterThan(200);
  });

  it('survives serialize/deserialize, and computes rows it does not hold on first use', () => {
    const table = new SentenceTable();
    table.add(4, 'The jury met on Friday. It praised the election officials.', analyzer);
    table.add(9, 'Wind tunnels measure lift.', analyzer);
    table.remove(9);
    const copy = SentenceTable.deserialize(table.serialize());
    expect(copy.has(4)).toBe(true);
    expect(copy.has(9)).toBe(false);
    expect([...copy.row(4, 'unused', analyzer)]).toEqual([...table.row(4, 'unused', analyzer)]);
    expect(copy.termId('juri')).toBe(table.termId('juri'));
    const lazy = copy.row(9, 'Wind tunnels measure lift.', analyzer);
    expect(lazy[0]).toBe(1); // one sentence
    expect(copy.has(9)).toBe(true);
  });

  it('rejects a file that is not a table, or is cut short, as CORRUPT', () => {
    const bytes = new SentenceTable().serialize();
    const bad = [new Uint8Array([1, 2, 3]), new TextEncoder().encode('not a sentence table at all'), bytes.slice(0, 13)];
    for (const b of bad) {
      let err: unknown;
      try {
        SentenceTable.deserialize(b);
      } catch (e) {
        err = e;
      }
      expect(isRagError(err) && err.code === 'CORRUPT').toBe(true);
    }
    const t = new SentenceTable();
    t.add(0, 'One sentence here. And another one.', analyzer);
    const full = t.serialize();
    expect(() => SentenceTable.deserialize(full.slice(0, full.length - 4))).toThrow(/truncated|bad row/);
  });
});
