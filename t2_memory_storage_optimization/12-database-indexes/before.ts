/**
 * Filtered queries on the document catalogue, written the way they usually start: the table has its primary key and
 * nothing else, and the filters are written the way they read: the genre through `meta->>'genre'`, the title
 * through `lower(title) LIKE '%…%'`. Every filter reads the whole table (a sequential scan): fine at ten thousand
 * rows, a few hundred milliseconds a query at a million, and growing with the table.
 *
 * The reference for the checkpoint: an indexed version must return exactly these rows.
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

/** Migrations applied after the table (shared/db/migrations/001_documents.sql) is created and loaded: none. */
export const indexMigrations: Migration[] = [];

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
