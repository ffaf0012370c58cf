/**
 * EXERCISE 12-database-indexes — make every filter find its rows without reading the whole table.
 *
 * As shipped it is before.ts: the documents table has its primary key and nothing else, so each of the four filters
 * reads all the rows (EXPLAIN shows a Seq Scan on docs), and the genre and title filters are written the way they
 * read. The checkpoint accepts its rows and rejects its plans.
 *
 * What must hold (checked by `npm run checkpoint -- 12-database-indexes`, on 30,000 documents in a schema of its own):
 *
 *   - every filter returns exactly the rows before.ts returns, ascending by id;
 *   - the plan of every filter (EXPLAIN (FORMAT JSON)) finds its rows of docs through an index condition: no Seq Scan
 *     on docs, no index read end to end with a filter on every row;
 *   - the indexes arrive as migrations in `indexMigrations` (version 2 onwards; the table itself is version 1,
 *     shared/db/migrations/001_documents.sql), applied to the loaded table, each in one transaction and recorded in
 *     schema_migrations. A migration may need an extension: install it `WITH SCHEMA public` (the connection's
 *     search_path is the run's schema, then public).
 *
 * Which index serves which filter, and how each filter must be written so that its index can serve it, are yours to
 * decide. `EXPLAIN (ANALYZE, BUFFERS)` in psql shows what a query does; the README shows how to get a schema to try
 * them in.
 *
 * Measure yours beside before and after: npm run t2 -- --only 12-database-indexes --impl exercise --quick
 * Stuck? npm run hint -- 12-database-indexes
 */
import type { Migration } from '../../shared/db/migrate.ts';

export type { Migration } from '../../shared/db/migrate.ts';

/** What a service asks of the catalogue: one filter at a time. */
export type Filter =
  | { kind: 'tenant'; tenant: number }
  /** Published on or after `from` and before `to` (ISO dates). */
  | { kind: 'published'; from: string; to: string }
  /** metadata.genre equals `genre`. */
  | { kind: 'genre'; genre: string }
  /** The title contains `contains`, case-insensitively. */
  | { kind: 'title'; contains: string };

/** An SQL statement and its parameters. */
export interface Sql {
  text: string;
  values: unknown[];
}

/** Migrations applied after the table (shared/db/migrations/001_documents.sql) is created and loaded. */
export const indexMigrations: Migration[] = [
  // TODO: the indexes the four filters need
];

/** `%` and `_` are wildcards in LIKE patterns, `\` their escape: a search string matches itself only. */
export function likeEscape(s: string): string {
  return s.replace(/[\\%_]/g, (c) => `\\${c}`);
}

/** The ids of the documents matching `f`, ascending. */
export function filterQuery(f: Filter): Sql {
  switch (f.kind) {
    case 'tenant':
      return { text: 'SELECT id FROM docs WHERE tenant_id = $1 ORDER BY id', values: [f.tenant] };
    case 'published':
      return { text: 'SELECT id FROM docs WHERE published >= $1::date AND published < $2::date ORDER BY id', values: [f.from, f.to] };
    case 'genre':
      return { text: "SELECT id FROM docs WHERE meta->>'genre' = $1 ORDER BY id", values: [f.genre] };
    case 'title':
      return { text: "SELECT id FROM docs WHERE lower(title) LIKE '%' || lower($1) || '%' ORDER BY id", values: [f.contains] };
  }
}
