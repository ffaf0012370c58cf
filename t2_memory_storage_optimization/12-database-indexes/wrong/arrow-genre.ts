/**
 * Wrong (on purpose): after.ts's indexes, GIN on the metadata included, but the genre filter still written
 * `meta->>'genre' = $1`. It means the same thing as `meta @> '{"genre": …}'`, yet the GIN index (jsonb_path_ops)
 * serves only containment on `meta`; `meta->>'genre'` is another expression, with no index of its own. The genre
 * filter reads every row.
 *
 * What differs from after.ts: the genre query.
 *
 * @rejected-with genre filter: the plan reads every row of docs
 */
import { filterQuery as indexed, type Filter, type Sql } from '../after.ts';

export { indexMigrations, likeEscape, type Filter, type Migration, type Sql } from '../after.ts';

export function filterQuery(f: Filter): Sql {
  if (f.kind === 'genre') return { text: "SELECT id FROM docs WHERE meta->>'genre' = $1 ORDER BY id", values: [f.genre] };
  return indexed(f);
}
