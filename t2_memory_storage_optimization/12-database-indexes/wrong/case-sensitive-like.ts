/**
 * Wrong (on purpose): after.ts's indexes, and the title filter rewritten for the trigram index, but as `title LIKE`
 * instead of `ILIKE`. The index serves it, and it is fast; it also misses every title where the word is capitalised
 * ("Finally, …" for "finally"). An index-friendly rewrite must still mean what the original meant.
 *
 * What differs from after.ts: the title query (LIKE, case-sensitive).
 *
 * @rejected-with the unindexed query returns
 */
import { filterQuery as indexed, likeEscape, type Filter, type Sql } from '../after.ts';

export { indexMigrations, likeEscape, type Filter, type Migration, type Sql } from '../after.ts';

export function filterQuery(f: Filter): Sql {
  if (f.kind === 'title') return { text: 'SELECT id FROM docs WHERE title LIKE $1 ORDER BY id', values: [`%${likeEscape(f.contains)}%`] };
  return indexed(f);
}
