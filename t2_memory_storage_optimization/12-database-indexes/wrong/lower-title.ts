/**
 * Wrong (on purpose): after.ts's indexes, the trigram index on `title` included, but the title filter still written
 * `lower(title) LIKE '%…%'`. The index was built on `title`; the query filters on `lower(title)`, an expression no
 * index holds, so the title filter reads every row. (Either query `title ILIKE`, or index `lower(title)`.)
 *
 * What differs from after.ts: the title query.
 *
 * @rejected-with title filter: the plan reads every row of docs
 */
import { filterQuery as indexed, type Filter, type Sql } from '../after.ts';

export { indexMigrations, likeEscape, type Filter, type Migration, type Sql } from '../after.ts';

export function filterQuery(f: Filter): Sql {
  if (f.kind === 'title') {
    return { text: "SELECT id FROM docs WHERE lower(title) LIKE '%' || lower($1) || '%' ORDER BY id", values: [f.contains] };
  }
  return indexed(f);
}
