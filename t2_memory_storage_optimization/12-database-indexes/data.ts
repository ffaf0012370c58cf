/**
 * The workload for 12-database-indexes: a catalogue of Brown-derived documents in PostgreSQL, and the filters a
 * service asks of it.
 *
 * Rows (shared/db/migrations/001_documents.sql): the 500 Brown files in their catalogue order (cats.txt, grouped by
 * genre), each expanded into rows/500 documents, as a service ingests collection by collection: so one genre's rows
 * sit together on disk. Per row, from a seeded PRNG: a tenant (1 of 1,000, uniform: a tenant's rows are spread over
 * the whole table), a publication date (uniform over 1900–2024), a title (the first 3–8 words of a sentence of its
 * file), metadata `{"genre", "source": "brown", "file"}` as jsonb, and an excerpt (a sentence of its file, at most 200
 * characters). Same rows and seed, same table, on every machine.
 *
 * Loaded with COPY (pg-copy-streams): one text stream, no statement per row.
 */
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { loadBrown } from '../../shared/corpus/brown.ts';
import { ident } from '../../shared/db/migrate.ts';
import { splitSentences } from '../../shared/text/sentences.ts';
import { mulberry32 } from '../../shared/util/random.ts';
import type { Filter } from './after.ts';

export const TENANTS = 1_000;
const FIRST_DAY = Date.UTC(1900, 0, 1);
const DAYS = Math.round((Date.UTC(2025, 0, 1) - FIRST_DAY) / 86_400_000);
/** Genres whose documents are a few percent of the table (the others are up to 16%: see the README). */
export const RARE_GENRES = ['humor', 'science_fiction', 'religion', 'mystery'];

interface BrownFile {
  file: string;
  genre: string;
  /** Sentences of 3+ words, whitespace collapsed. */
  sentences: string[];
}

export interface Catalogue {
  files: BrownFile[];
}

let memo: Promise<Catalogue> | undefined;

/** Brown's 500 files, split into sentences (read once per process). */
export function catalogue(): Promise<Catalogue> {
  memo ??= loadBrown().then((docs) => ({
    files: docs.map((d) => ({
      file: d.id.replace(/^brown\//, ''),
      genre: String(d.metadata?.genre ?? 'general'),
      sentences: splitSentences(d.text)
        .map((s) => s.replace(/\s+/g, ' ').trim())
        .filter((s) => s.split(' ').length >= 3),
    })),
  }));
  return memo;
}

const isoDay = (day: number) => new Date(FIRST_DAY + day * 86_400_000).toISOString().slice(0, 10);

/** The title a sentence gives: its first `words` words, without trailing punctuation. */
function titleOf(sentence: string, words: number): string {
  return sentence
    .split(' ')
    .slice(0, words)
    .join(' ')
    .replace(/[^\p{L}\p{N}]+$/u, '');
}

/** COPY text format: backslash, tab, newline and carriage return escaped. */
function copyText(s: string): string {
  return s.replace(/[\\\t\n\r]/g, (c) => (c === '\\' ? '\\\\' : c === '\t' ? '\\t' : c === '\n' ? '\\n' : '\\r'));
}

/** The table's rows as COPY text lines, in batches of about `batch` rows (one string each). */
export function* rowLines(cat: Catalogue, rows: number, seed = 12, batch = 5_000): Generator<string> {
  const rand = mulberry32(seed);
  const files = cat.files;
  let id = 0;
  let out = '';
  let inBatch = 0;
  for (let f = 0; f < files.length; f++) {
    const { file, genre, sentences } = files[f];
    const meta = JSON.stringify({ genre, source: 'brown', file });
    const count = Math.floor((rows * (f + 1)) / files.length) - Math.floor((rows * f) / files.length);
    for (let r = 0; r < count; r++) {
      const tenant = 1 + Math.floor(rand() * TENANTS);
      const published = isoDay(Math.floor(rand() * DAYS));
      const title = titleOf(sentences[Math.floor(rand() * sentences.length)], 3 + Math.floor(rand() * 6));
      const excerpt = sentences[Math.floor(rand() * sentences.length)].slice(0, 200);
      out += `${++id}\t${tenant}\t${published}\t${copyText(title)}\t${copyText(meta)}\t${copyText(excerpt)}\n`;
      if (++inBatch === batch) {
        yield out;
        out = '';
        inBatch = 0;
      }
    }
  }
  if (out) yield out;
}

/** COPYs `rows` documents into `<schema>.docs`, then ANALYZE. */
export async function loadDocs(client: pg.ClientBase, schema: string, rows: number): Promise<void> {
  const cat = await catalogue();
  const copy = client.query(copyFrom(`COPY ${ident(schema)}.docs (id, tenant_id, published, title, meta, excerpt) FROM STDIN`));
  await pipeline(Readable.from(rowLines(cat, rows)), copy);
  await client.query(`ANALYZE ${ident(schema)}.docs`);
}

/** Copies the rows of `<from>.docs` into `<to>.docs` (server side), then ANALYZE. */
export async function copyDocs(client: pg.ClientBase, from: string, to: string): Promise<void> {
  await client.query(`INSERT INTO ${ident(to)}.docs SELECT * FROM ${ident(from)}.docs`);
  await client.query(`ANALYZE ${ident(to)}.docs`);
}

/**
 * The filters the benchmark and checkpoint ask, `perKind` of each kind (seeded): tenants, one-month date ranges,
 * the rare genres, and title words that occur in about 0.02–0.2% of the titles.
 */
export async function filters(perKind: number, seed = 12): Promise<Record<Filter['kind'], Filter[]>> {
  const cat = await catalogue();
  const rand = mulberry32(seed + 1);
  const tenant: Filter[] = [];
  const published: Filter[] = [];
  for (let i = 0; i < perKind; i++) {
    tenant.push({ kind: 'tenant', tenant: 1 + Math.floor(rand() * TENANTS) });
    const year = 1900 + Math.floor(rand() * 125);
    const month = Math.floor(rand() * 12);
    const from = new Date(Date.UTC(year, month, 1)).toISOString().slice(0, 10);
    const to = new Date(Date.UTC(year, month + 1, 1)).toISOString().slice(0, 10);
    published.push({ kind: 'published', from, to });
  }
  const genre: Filter[] = Array.from({ length: perKind }, (_, i) => ({ kind: 'genre', genre: RARE_GENRES[i % RARE_GENRES.length] }));
  // title words: the share of a file's sentences that start with a title holding the word, averaged over files,
  // estimates the share of titles that hold it (every file gets the same number of rows)
  const share = new Map<string, number>();
  for (const f of cat.files) {
    const seen = new Map<string, number>();
    for (const s of f.sentences) {
      for (const w of new Set(titleOf(s, 5).toLowerCase().split(/[^a-z]+/))) if (w.length >= 6) seen.set(w, (seen.get(w) ?? 0) + 1);
    }
    for (const [w, c] of seen) share.set(w, (share.get(w) ?? 0) + c / f.sentences.length / cat.files.length);
  }
  const words = [...share].filter(([, s]) => s >= 0.0002 && s <= 0.002).map(([w]) => w).sort();
  const title: Filter[] = [];
  while (title.length < perKind) title.push({ kind: 'title', contains: words[Math.floor(rand() * words.length)] });
  return { tenant, published, genre, title };
}
