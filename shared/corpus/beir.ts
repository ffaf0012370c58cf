import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { RagError } from '../errors.ts';
import type { Doc, Qrels, Query } from '../types.ts';
import { idField, readJsonl, readLines } from './jsonl.ts';

export interface BeirOptions {
  /** Which qrels file to read: `qrels/<split>.tsv`. Default 'test'. */
  split?: string;
}

export interface BeirDataset {
  docs: Doc[];
  /** Every query in queries.jsonl, judged or not (see `judgedQueries`). */
  queries: Query[];
  qrels: Qrels;
}

/**
 * Loads a dataset in the BEIR layout: `corpus.jsonl` ({_id, title, text}), `queries.jsonl` ({_id, text}) and
 * `qrels/<split>.tsv` (query-id, corpus-id, score; an optional header line). Files are streamed line by line.
 * Docs get `title` when it is non-empty. Throws RagError('NOT_FOUND') for a missing directory or file and
 * RagError('CORRUPT', '<file> line <n>: ...') for a malformed line.
 */
export async function loadBeir(dir: string, opts: BeirOptions = {}): Promise<BeirDataset> {
  const split = opts.split ?? 'test';
  const corpusFile = join(dir, 'corpus.jsonl');
  const queriesFile = join(dir, 'queries.jsonl');
  const qrelsFile = join(dir, 'qrels', `${split}.tsv`);
  await mustExist(dir, 'BEIR dataset directory', true);
  await mustExist(corpusFile, 'BEIR corpus', false);
  await mustExist(queriesFile, 'BEIR queries', false);
  await mustExist(qrelsFile, `BEIR qrels for split "${split}"`, false);

  const docs: Doc[] = [];
  await readJsonl(corpusFile, (value, lineNo) => {
    const r = record(value, corpusFile, lineNo);
    const id = idField(r, '_id');
    if (id === undefined) throw new RagError('CORRUPT', `${corpusFile} line ${lineNo}: missing "_id"`);
    if (typeof r.text !== 'string') throw new RagError('CORRUPT', `${corpusFile} line ${lineNo}: "text" is not a string`);
    const doc: Doc = { id, text: r.text };
    if (typeof r.title === 'string' && r.title.length > 0) doc.title = r.title;
    docs.push(doc);
  });

  const queries: Query[] = [];
  await readJsonl(queriesFile, (value, lineNo) => {
    const r = record(value, queriesFile, lineNo);
    const id = idField(r, '_id');
    if (id === undefined) throw new RagError('CORRUPT', `${queriesFile} line ${lineNo}: missing "_id"`);
    if (typeof r.text !== 'string') throw new RagError('CORRUPT', `${queriesFile} line ${lineNo}: "text" is not a string`);
    queries.push({ id, text: r.text });
  });

  const qrels: Qrels = new Map();
  let lineNo = 0;
  for await (const line of readLines(qrelsFile)) {
    lineNo++;
    if (line.trim().length === 0) continue;
    const cols = line.split('\t');
    if (cols.length < 3) {
      throw new RagError('CORRUPT', `${qrelsFile} line ${lineNo}: expected 3 tab-separated columns, got ${cols.length}`);
    }
    const [qid, did, score] = cols.length === 3 ? cols : [cols[0], cols[cols.length - 2], cols[cols.length - 1]];
    const grade = Number(score);
    if (score.trim() === '' || !Number.isFinite(grade)) {
      if (lineNo === 1) continue; // header: query-id corpus-id score
      throw new RagError('CORRUPT', `${qrelsFile} line ${lineNo}: score "${score}" is not a number`);
    }
    let judged = qrels.get(qid);
    if (!judged) qrels.set(qid, (judged = new Map()));
    judged.set(did, grade);
  }
  return { docs, queries, qrels };
}

/** The queries with at least one relevant judgement (grade > 0): the ones BEIR scores. */
export function judgedQueries(queries: readonly Query[], qrels: Qrels): Query[] {
  return queries.filter((q) => {
    const judged = qrels.get(q.id);
    if (!judged) return false;
    for (const g of judged.values()) if (g > 0) return true;
    return false;
  });
}

function record(value: unknown, file: string, lineNo: number): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new RagError('CORRUPT', `${file} line ${lineNo}: expected a JSON object`);
  }
  return value as Record<string, unknown>;
}

async function mustExist(path: string, what: string, dir: boolean): Promise<void> {
  try {
    const s = await stat(path);
    if (dir ? !s.isDirectory() : !s.isFile()) {
      throw new RagError('NOT_FOUND', `${what}: ${path} is not a ${dir ? 'directory' : 'file'}`);
    }
  } catch (err) {
    if (err instanceof RagError) throw err;
    throw new RagError('NOT_FOUND', `${what} not found: ${path}`);
  }
}
