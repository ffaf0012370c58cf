/**
 * Prints EXPLAIN (ANALYZE, BUFFERS) of one filter of each kind, before.ts's on a table without indexes and after.ts's
 * (or your exercise's) with its index migrations, on the same documents: the plans the README quotes.
 *
 *   npx tsx t2_memory_storage_optimization/12-database-indexes/explain.ts [--rows 1000000] [--impl after|exercise] [--keep]
 *
 * Each run loads fresh schemas (lab12_<hex>_before, lab12_<hex>_<impl>) and drops them at the end; with --keep it
 * leaves them, prints their names, and you can try queries in psql:
 *
 *   psql postgres://postgres@127.0.0.1:5432/test -c "SET search_path TO lab12_…_after, public" -c "EXPLAIN (ANALYZE, BUFFERS) …"
 *   psql … -c "DROP SCHEMA lab12_…_after CASCADE"      (when done)
 */
import { parseArgs } from 'node:util';
import { extensionSkipReason } from '../../shared/db/pg.ts';
import * as after from './after.ts';
import * as before from './before.ts';
import { filters } from './data.ts';
import { prepare, type Version } from './db.ts';

const { values } = parseArgs({
  options: { rows: { type: 'string', default: '1000000' }, impl: { type: 'string', default: 'after' }, keep: { type: 'boolean', default: false } },
});
const rows = Number(values.rows);
if (!Number.isInteger(rows) || rows <= 0) throw new Error(`--rows must be a positive integer, got ${values.rows}`);
const skip = await extensionSkipReason('pg_trgm');
if (skip) {
  console.error(`skipped: ${skip}`);
  process.exit(0);
}
const impl: Version = values.impl === 'exercise' ? await import('./exercise.ts') : after;
const name = values.impl === 'exercise' ? 'exercise' : 'after';
const db = await prepare({ rows, versions: { before, [name]: impl }, log: (m) => console.error(m) });
try {
  const asked = await filters(8);
  for (const kind of ['tenant', 'published', 'genre', 'title'] as const) {
    const f = asked[kind][0];
    for (const [version, mod] of [['before', before], [name, impl]] as const) {
      const q = mod.filterQuery(f);
      // once to warm the cache, then the plan printed
      await db.clients[version].query(q.text, q.values);
      const { rows: plan } = await db.clients[version].query(`EXPLAIN (ANALYZE, BUFFERS) ${q.text}`, q.values);
      console.log(`\n### ${kind}: ${version} (${rows.toLocaleString('en-US')} rows), filter ${JSON.stringify(f)}\n`);
      console.log(`    ${q.text}`);
      console.log(`    -- $1.. = ${JSON.stringify(q.values)}\n`);
      for (const r of plan) console.log(`    ${r['QUERY PLAN']}`);
    }
  }
} finally {
  if (values.keep) console.error(`kept schemas: ${Object.values(db.schemas).join(', ')}`);
  else await db.close();
}
if (values.keep) process.exit(0);
