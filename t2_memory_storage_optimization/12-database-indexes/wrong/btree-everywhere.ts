/**
 * Wrong (on purpose): "index every column the filters use", all of them B-trees, with after.ts's queries. The tenant
 * and date filters are served. A B-tree on `title` can only find values by their beginning (and only for a
 * case-sensitive pattern without a leading %), so `title ILIKE '%word%'` reads every row; a B-tree on `meta` orders
 * whole jsonb values and cannot answer containment of one key.
 *
 * What differs from after.ts: the index migration.
 *
 * @rejected-with USING btree (title)
 */
import type { Migration } from '../after.ts';

export { filterQuery, likeEscape, type Filter, type Migration, type Sql } from '../after.ts';

export const indexMigrations: Migration[] = [
  {
    version: 2,
    name: 'filter_indexes',
    sql: `
      CREATE INDEX docs_tenant ON docs (tenant_id);
      CREATE INDEX docs_published ON docs (published);
      CREATE INDEX docs_meta ON docs (meta);
      CREATE INDEX docs_title ON docs (title);
      ANALYZE docs;
    `,
  },
];
