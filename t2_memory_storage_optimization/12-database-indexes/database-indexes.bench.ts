/**
 * Benchmark for 12-database-indexes: one filtered query against the document catalogue in PostgreSQL, per filter
 * kind, without indexes (before.ts: sequential scans, the filters as first written) and with them (after.ts: B-trees
 * for tenant and date, GIN jsonb_path_ops for the metadata genre, a pg_trgm GIN for the title, and the filters written
 * so the indexes serve them). Each kind's `after` is paired with its own `before`.
 *
 * Setup: a schema per version (`lab12_<hex>_<version>`), the documents table by migration, the rows COPYed into every
 * schema at once, ANALYZE, then each version's index migrations (timed). Teardown drops the schemas.
 *
 * Headline: the mean time of one query of each kind (each call: the next of 8 seeded filters of that kind, ids fetched).
 * Extras: buffers (8 kB pages) each plan touches (EXPLAIN (ANALYZE, BUFFERS) of the first 4 filters of each kind), rows
 * returned, the index build time and the indexes' size.
 *
 * With --impl exercise: the "exercise" row times the learner's title filter (paired with before's); its buffers and
 * rows for every kind are in the extras.
 *
 * Run: npm run t2 -- --only 12-database-indexes [--quick] [--impl exercise]
 */
import { defineLesson, EXERCISE, type Metric } from '../../shared/lab/lesson.ts';
import { measured } from '../../shared/lab/metric.ts';
import { extensionSkipReason } from '../../shared/db/pg.ts';
import * as after from './after.ts';
import * as before from './before.ts';
import { filters } from './data.ts';
import { explain, planNodes, prepare, type Prepared, type Version } from './db.ts';

const PER_KIND = 8;
/** Filters of each kind whose plans the extras read (EXPLAIN ANALYZE runs the query: a full scan each, before). */
const EXPLAINED = 4;
const KINDS = ['tenant', 'published', 'genre', 'title'] as const;
type Kind = (typeof KINDS)[number];
const LABEL: Record<Kind, string> = {
  tenant: 'tenant',
  published: 'date range',
  genre: 'genre (jsonb)',
  title: 'title text',
};
/** What serves each kind in after.ts. */
const SERVED_BY: Record<Kind, string> = {
  tenant: 'btree',
  published: 'btree',
  genre: 'GIN jsonb_path_ops',
  title: 'GIN pg_trgm',
};

interface Size {
  rows: number;
}

interface Input {
  size: Size;
  db: Prepared;
  asked: Record<Kind, after.Filter[]>;
  versions: Record<string, Version>;
  cursor: Record<string, number>;
}

const beforeName = (k: Kind) => `before: ${LABEL[k]}`;
const afterName = (k: Kind) => `after: ${LABEL[k]} (${SERVED_BY[k]})`;

async function run(input: Input, version: string, kind: Kind, row: string): Promise<number> {
  const i = input.cursor[row] ?? 0;
  input.cursor[row] = i + 1;
  const f = input.asked[kind][i % PER_KIND];
  const q = input.versions[version].filterQuery(f);
  const res = await input.db.clients[version].query(q.text, q.values);
  return res.rowCount ?? 0;
}

const variants: Record<string, (input: Input) => Promise<number>> = {};
const pairs: Record<string, string> = {};
for (const k of KINDS) {
  variants[beforeName(k)] = (input) => run(input, 'before', k, beforeName(k));
  variants[afterName(k)] = (input) => run(input, 'after', k, afterName(k));
  pairs[afterName(k)] = beforeName(k);
}
pairs[EXERCISE] = beforeName('title');

export default defineLesson<Size, Input>({
  id: 't2/12-database-indexes',
  title: 'Database indexes: sequential scans vs. B-tree, GIN on jsonb and pg_trgm in PostgreSQL',
  workload:
    `one filtered query (ids of the matching documents, ascending; ${PER_KIND} seeded filters of each kind in rotation) ` +
    'on a PostgreSQL table of Brown-derived documents: by tenant (1 of 1,000), by a month of publication dates, by a ' +
    'rare genre in the jsonb metadata, by a word in the title',
  sizes: { quick: { rows: 10_000 }, full: { rows: 1_000_000 } },
  skip: () => extensionSkipReason('pg_trgm'),
  setup: async (size, ctx) => {
    const versions: Record<string, Version> = { before, after };
    const ex = ctx.exercise as Version | undefined;
    if (ex) versions[EXERCISE] = ex;
    const db = await prepare({ rows: size.rows, versions, log: ctx.log });
    return { size, db, asked: await filters(PER_KIND), versions, cursor: {} };
  },
  teardown: (input) => input.db.close(),
  baseline: beforeName('tenant'),
  pairs,
  featured: KINDS.map(afterName),
  headline: { name: 'time per filtered query', unit: 'ms', better: 'lower' },
  options: { iterations: 3, rounds: 3 },
  variants,
  exercise: (input) => run(input, EXERCISE, 'title', EXERCISE),
  extras: async (input, ctx) => {
    const metrics: Metric[] = [];
    for (const version of Object.keys(input.versions)) {
      const client = input.db.clients[version];
      for (const k of KINDS) {
        const row = version === 'before' ? beforeName(k) : version === 'after' ? afterName(k) : `${EXERCISE}: ${LABEL[k]}`;
        ctx.log(`EXPLAIN (ANALYZE, BUFFERS): ${row}`);
        const buffers: number[] = [];
        const rows: number[] = [];
        let seqScans = 0;
        for (const f of input.asked[k].slice(0, EXPLAINED)) {
          const plan = await explain(client, input.versions[version].filterQuery(f), 'ANALYZE, BUFFERS, FORMAT JSON');
          buffers.push((plan['Shared Hit Blocks'] ?? 0) + (plan['Shared Read Blocks'] ?? 0));
          rows.push((plan as { 'Actual Rows'?: number })['Actual Rows'] ?? 0);
          for (const n of planNodes(plan)) if (n['Node Type'] === 'Seq Scan' && n['Relation Name'] === 'docs') seqScans++;
        }
        metrics.push(
          measured(`${LABEL[k]}: buffers touched per query`, 'pages', buffers, {
            variant: row,
            note: `8 kB pages, shared hit + read; ${seqScans} of ${EXPLAINED} plans scan docs sequentially`,
          }),
          measured(`${LABEL[k]}: rows returned`, 'rows', rows, { variant: row }),
        );
      }
      const ms = input.db.indexMs[version];
      if (ms !== undefined) {
        const { rows } = await client.query<{ bytes: string }>("SELECT pg_indexes_size('docs')::bigint AS bytes");
        metrics.push(
          measured('index migrations (build on the loaded table)', 'ms', [ms], { variant: version, note: 'one build, in one transaction' }),
          measured('size of the indexes on docs (primary key included)', 'bytes', [Number(rows[0].bytes)], { variant: version }),
        );
      }
    }
    const { rows } = await input.db.clients.before.query<{ bytes: string }>("SELECT pg_table_size('docs')::bigint AS bytes");
    metrics.push(measured('size of the docs table', 'bytes', [Number(rows[0].bytes)], { note: `${input.size.rows.toLocaleString('en-US')} rows` }));
    return { metrics };
  },
});
