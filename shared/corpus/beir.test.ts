import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RagError } from '../errors.ts';
import { judgedQueries, loadBeir } from './beir.ts';
import { findDataset } from '../util/paths.ts';

describe('loadBeir on a tiny fixture', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'beir-'));
    await mkdir(join(dir, 'qrels'));
    await writeFile(
      join(dir, 'corpus.jsonl'),
      '{"_id": "d1", "title": "Wings", "text": "lift and drag"}\n{"_id": 2, "title": "", "text": "heat transfer"}\n\n',
    );
    await writeFile(join(dir, 'queries.jsonl'), '{"_id": "q1", "text": "lift"}\n{"_id": "q2", "text": "heat"}\n{"_id": "q3", "text": "none"}\n');
    await writeFile(join(dir, 'qrels', 'test.tsv'), 'query-id\tcorpus-id\tscore\nq1\td1\t2\nq2\t2\t1\nq3\td1\t0\n');
    await writeFile(join(dir, 'qrels', 'dev.tsv'), 'q1\t2\t1\n');
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('reads docs, queries and qrels', async () => {
    const { docs, queries, qrels } = await loadBeir(dir);
    expect(docs).toEqual([
      { id: 'd1', title: 'Wings', text: 'lift and drag' },
      { id: '2', text: 'heat transfer' },
    ]);
    expect(queries.map((q) => q.id)).toEqual(['q1', 'q2', 'q3']);
    expect(qrels.get('q1')).toEqual(new Map([['d1', 2]]));
    expect(qrels.get('q3')).toEqual(new Map([['d1', 0]]));
  });
  it('reads another split, and its qrels file may have no header', async () => {
    const { qrels } = await loadBeir(dir, { split: 'dev' });
    expect([...qrels.keys()]).toEqual(['q1']);
  });
  it('judgedQueries keeps queries with a relevant judgement', async () => {
    const { queries, qrels } = await loadBeir(dir);
    expect(judgedQueries(queries, qrels).map((q) => q.id)).toEqual(['q1', 'q2']);
  });
  it('names the missing directory or file', async () => {
    await expect(loadBeir(join(dir, 'nope'))).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(loadBeir(dir, { split: 'train' })).rejects.toThrow(/train\.tsv/);
  });
  it('names the file and line of a malformed record', async () => {
    const bad = await mkdtemp(join(tmpdir(), 'beir-bad-'));
    try {
      await mkdir(join(bad, 'qrels'));
      await writeFile(join(bad, 'corpus.jsonl'), '{"_id": "a", "text": "x"}\n{"_id": "b", "text": \n');
      await writeFile(join(bad, 'queries.jsonl'), '{"_id": "q", "text": "x"}\n');
      await writeFile(join(bad, 'qrels', 'test.tsv'), 'q\ta\t1\n');
      const err = await loadBeir(bad).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RagError);
      expect((err as RagError).code).toBe('CORRUPT');
      expect((err as RagError).message).toMatch(/corpus\.jsonl line 2/);

      await writeFile(join(bad, 'corpus.jsonl'), '{"_id": "a", "text": "x"}\n');
      await writeFile(join(bad, 'qrels', 'test.tsv'), 'query-id\tcorpus-id\tscore\nq\ta\t1\nq\ta\n');
      await expect(loadBeir(bad)).rejects.toThrow(/test\.tsv line 3/);
      await writeFile(join(bad, 'queries.jsonl'), '{"_id": "q"}\n');
      await expect(loadBeir(bad)).rejects.toThrow(/queries\.jsonl line 1: "text"/);
    } finally {
      await rm(bad, { recursive: true, force: true });
    }
  });
});

const cranfield = findDataset('cranfield');
if (!cranfield) console.warn('cranfield dataset not found (set LAB_DATASETS or add ../shared/datasets/cranfield): skipping');

describe.skipIf(!cranfield)('loadBeir on Cranfield', () => {
  it('loads 1400 docs, 225 queries and 1837 judgements', async () => {
    const { docs, queries, qrels } = await loadBeir(cranfield!);
    expect(docs).toHaveLength(1400);
    expect(queries).toHaveLength(225);
    let judgements = 0;
    for (const m of qrels.values()) judgements += m.size;
    expect(judgements).toBe(1837);
    expect(judgedQueries(queries, qrels)).toHaveLength(225);
    expect(new Set(docs.map((d) => d.id)).size).toBe(1400);
  });
});
