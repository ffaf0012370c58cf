/**
 * Checkpoint for 12-database-indexes. `npm run checkpoint -- 12-database-indexes` runs it against exercise.ts; plain
 * `npx vitest run` checks before.ts and after.ts. Needs PostgreSQL (DATABASE_URL, default
 * postgres://postgres@127.0.0.1:5432/test) with the pg_trgm extension available; skips with the reason otherwise.
 *
 * The reference is before.ts on a table without indexes. Every version gets its own schema holding the same 30,000
 * documents (30,000 rows: ANALYZE then reads every row, so the planner's statistics, and its plans, are the same on
 * every run), then its own index migrations. A version must return exactly the reference's rows for every filter,
 * and (the lesson's point, read from EXPLAIN (FORMAT JSON), not timed) find them through an index: no node of the plan
 * may read the documents table whole.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ident } from '../../shared/db/migrate.ts';
import { extensionSkipReason } from '../../shared/db/pg.ts';
import { implementations } from '../../shared/lab/checkpoint.ts';
import type { Filter } from './after.ts';
import * as reference from './before.ts';
import { filters } from './data.ts';
import { explain, indexDefs, outline, prepare, usesIndex, type Prepared, type Version } from './db.ts';

const ROWS = 30_000;
const PER_KIND = 3;
const KINDS = ['tenant', 'published', 'genre', 'title'] as const;

const skip = await extensionSkipReason('pg_trgm');
if (skip) console.warn(`12-database-indexes: checkpoint skipped: ${skip}`);
/** Tests that need the database: skipped, with the reason in their name, when it is absent. */
const itDb = skip ? (title: string, _fn: () => unknown) => it.skip(`${title} (skipped: ${skip})`, () => {}) : it;

const impls = await implementations<Version>(import.meta.url);
const show = (f: Filter) => JSON.stringify(f);

let db: Prepared;
let asked: Record<(typeof KINDS)[number], Filter[]>;

beforeAll(async () => {
  if (skip) return;
  asked = await filters(PER_KIND);
  const versions: Record<string, Version> = { reference };
  for (const [name, impl] of impls) versions[name] = impl;
  db = await prepare({ rows: ROWS, versions });
});
afterAll(async () => {
  await db?.close();
});

describe.each(impls)('%s', (name, impl) => {
  for (const kind of KINDS) {
    itDb(`returns exactly the rows of the unindexed query for the ${kind} filter`, async () => {
      for (const f of asked[kind]) {
        const want = await db.ids('reference', f);
        const got = await db.ids(name, f);
        const firstDiff = got.findIndex((id, i) => id !== want[i]);
        expect(
          got,
          `${kind} filter ${show(f)}: ${got.length} rows, the unindexed query returns ${want.length}` +
            (firstDiff >= 0 ? ` (row ${firstDiff + 1}: id ${got[firstDiff]}, expected ${want[firstDiff]})` : '') +
            `: the indexed query must select the same rows (SQL: ${impl.filterQuery(f).text})`,
        ).toEqual(want);
        expect(want.length, `${kind} filter ${show(f)} selects no rows: the workload is broken`).toBeGreaterThan(0);
      }
    });
  }

  itDb('records the table and its index migrations in schema_migrations, in a schema of its own', async () => {
    const { rows } = await db.clients[name].query<{ version: number }>(
      `SELECT version FROM ${ident(db.schemas[name])}.schema_migrations ORDER BY version`,
    );
    expect(rows.map((r) => r.version)).toEqual([1, ...impl.indexMigrations.map((m) => m.version)]);
    expect(db.schemas[name]).not.toBe(db.schemas.reference);
  });

  // The plan, read from EXPLAIN (FORMAT JSON). before.ts is the unindexed reference these rules are about.
  describe.skipIf(name === 'before')('the plans', () => {
    for (const kind of KINDS) {
      itDb(`find the rows of the ${kind} filter through an index, not by reading every row of docs`, async () => {
        for (const f of asked[kind]) {
          const q = impl.filterQuery(f);
          const plan = await explain(db.clients[name], q);
          const defs = await indexDefs(db.clients[name], db.schemas[name]);
          expect(
            usesIndex(plan),
            `${kind} filter: the plan reads every row of docs (${outline(plan)}) for ${q.text}. ` +
              `Indexes on docs: ${defs.join('; ')}. An index serves only the operators of its class, on the expression ` +
              'it was built on',
          ).toBe(true);
        }
      });
    }
  });
});
