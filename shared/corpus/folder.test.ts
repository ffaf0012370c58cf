import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadFolder } from './folder.ts';

describe('loadFolder', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'folder-'));
    await mkdir(join(dir, 'sub', 'deeper'), { recursive: true });
    await writeFile(join(dir, 'a.txt'), 'plain text');
    await writeFile(join(dir, 'sub', 'b.md'), 'intro\n\n# The Title\n\nbody\n\n# Second');
    await writeFile(
      join(dir, 'sub', 'deeper', 'c.jsonl'),
      '{"id": "x1", "text": "one", "title": "T", "lang": "en", "year": 1961, "tags": ["a"]}\n' +
        '{"_id": 7, "text": "two", "metadata": {"genre": "news"}}\n',
    );
    await writeFile(join(dir, 'ignored.pdf'), 'binary');
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('reads .txt, .md and .jsonl recursively, ids by relative path or jsonl id', async () => {
    const docs = await loadFolder(dir);
    expect(docs).toEqual([
      { id: 'a.txt', text: 'plain text', metadata: { source: 'folder', format: 'txt' } },
      { id: 'sub/b.md', title: 'The Title', text: 'intro\n\n# The Title\n\nbody\n\n# Second', metadata: { source: 'folder', format: 'md' } },
      { id: 'x1', title: 'T', text: 'one', metadata: { lang: 'en', year: 1961 } },
      { id: '7', text: 'two', metadata: { genre: 'news' } },
    ]);
  });
  it('rejects a missing folder, bad jsonl lines and duplicate ids', async () => {
    await expect(loadFolder(join(dir, 'missing'))).rejects.toMatchObject({ code: 'NOT_FOUND' });
    const bad = await mkdtemp(join(tmpdir(), 'folder-bad-'));
    try {
      await writeFile(join(bad, 'x.jsonl'), '{"id": "a", "text": "ok"}\n{"text": "no id"}\n');
      await expect(loadFolder(bad)).rejects.toThrow(/x\.jsonl line 2: missing "id"/);
      await writeFile(join(bad, 'x.jsonl'), '{"id": "a", "text": "ok"}\nnot json\n');
      await expect(loadFolder(bad)).rejects.toMatchObject({ code: 'CORRUPT', message: expect.stringMatching(/line 2/) });
      await writeFile(join(bad, 'x.jsonl'), '{"id": "a", "text": "ok"}\n{"id": "a", "text": "again"}\n');
      await expect(loadFolder(bad)).rejects.toThrow(/duplicate document id "a"/);
    } finally {
      await rm(bad, { recursive: true, force: true });
    }
  });
});
