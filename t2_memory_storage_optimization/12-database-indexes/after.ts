/**
 * The same filters, each answered from an index instead of a scan of the whole table:
 *
 * - **tenant** and **published**: B-tree indexes. A B-tree keeps the column's values sorted with a pointer to each
 *   row, so equality and ranges find their rows in O(log n) pages plus the rows themselves.
 * - **genre**: a GIN index on the metadata (`jsonb_path_ops`), queried with containment (`meta @> {"genre": …}`),
 *   the operator that index serves. A GIN index maps each key/value inside the jsonb to the rows holding it, so any
 *   metadata key can be filtered with the one index. (`meta->>'genre' = …` cannot use it: an index serves the
 *   operators of its class on the expression it was built on, not a different expression that means the same.)
 * - **title**: a trigram GIN index (`pg_trgm`, `gin_trgm_ops`) on the title, queried with `ILIKE`. A B-tree can only
 *   find a prefix; the trigram index maps every three-letter piece to the rows holding it, so `%word%` looks up the
 *   word's trigrams and rechecks the few rows that hold all of them. `lower(title) LIKE` would need an index on
 *   `lower(title)` instead: the expression in the query must be the one indexed.
 *
 * The indexes come as a migration applied to the loaded table (one transaction, recorded in schema_migrations). In
 * production, `CREATE INDEX CONCURRENTLY` (outside a transaction) avoids blocking writes while it builds.
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
  {
    version: 2,
    name: 'filter_indexes',
    sql: `
      -- pg_trgm lives in public (search_path is <schema>, public); concurrent runs take turns creating it
      SELECT pg_advisory_xact_lock(hashtext('create extension pg_trgm'));
      CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public;
      CREATE INDEX docs_tenant ON docs (tenant_id);
      CREATE INDEX docs_published ON docs (published);
      CREATE INDEX docs_meta ON docs USING gin (meta jsonb_path_ops);
      CREATE INDEX docs_title_trgm ON docs USING gin (title gin_trgm_ops);
      ANALYZE docs;
    `,
  },
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
      return { text: 'SELECT id FROM docs WHERE meta @> $1::jsonb ORDER BY id', values: [JSON.stringify({ genre: f.genre })] };
    case 'title':
      return { text: 'SELECT id FROM docs WHERE title ILIKE $1 ORDER BY id', values: [`%${likeEscape(f.contains)}%`] };
  }
}
