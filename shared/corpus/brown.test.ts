import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { brownDir, loadBrown, parseBrown } from './brown.ts';

describe('loadBrown', () => {
  it('loads the 500 files as documents with genres from cats.txt', async () => {
    const docs = await loadBrown();
    expect(docs).toHaveLength(500);
    const cats = new Map(
      (await readFile(join(brownDir(), 'cats.txt'), 'utf8'))
        .trim()
        .split('\n')
        .map((l) => l.trim().split(/\s+/) as [string, string]),
    );
    for (const d of docs) {
      const file = d.id.slice('brown/'.length);
      expect(d.metadata).toEqual({ genre: cats.get(file), source: 'brown' });
      expect(d.title).toBe(`${cats.get(file)} ${file}`);
    }
    expect(docs[0].id).toBe('brown/ca01');
    expect(new Set(docs.map((d) => d.metadata!.genre)).size).toBe(15);
  });
  it('strips every POS tag and keeps paragraphs', async () => {
    const docs = await loadBrown();
    // the common tags (at nn in jj np vbd nns …), alone or with -tl / -hl suffixes
    const tagResidue = /[A-Za-z0-9]{2}\/(?:at|nn|nns|in|jj|np|np\$|vb|vbd|vbn|vbz|cc|cs|rb|pps|ppo|dt|cd|md|to|\.|,|``|''|:)(?:-(?:tl|hl))?(?=\s|$)/;
    for (const d of docs) {
      const m = tagResidue.exec(d.text);
      expect(m?.[0], d.id).toBeUndefined();
    }
    const first = docs[0].text;
    expect(first.startsWith('The Fulton County Grand Jury said Friday an investigation of Atlanta\'s recent primary election produced "no evidence" that any irregularities took place.')).toBe(true);
    expect(first.split('\n\n').length).toBeGreaterThan(10);
    expect(first).not.toMatch(/ [,.;:!?]/);
  });
  it('honours limit', async () => {
    expect((await loadBrown({ limit: 3 })).map((d) => d.id)).toEqual(['brown/ca01', 'brown/ca02', 'brown/ca03']);
  });
  it('rejoins tokens: quotes, brackets, doubled marks', () => {
    expect(parseBrown("\tHe/pps said/vbd ``/`` go/vb ''/'' (/( now/rb )/) ;/. ;/.\n")).toBe('He said "go" (now);');
    expect(parseBrown('\tIvan/np Allen/np Jr./np ./.\nMerger/nn-hl proposed/vbn-hl\nIt/pps ended/vbd ./.\n')).toBe(
      'Ivan Allen Jr.\n\nMerger proposed\n\nIt ended.',
    );
  });
});
