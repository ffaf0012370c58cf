import { RagError } from '../errors.ts';
import type { Chunk, MetaValue } from '../types.ts';

/**
 * A metadata filter as users write it: every key must match (AND); a value matches by equality, an array of values
 * matches any of them (OR). The key `docId` tests the chunk's document id.
 *
 *     { genre: 'news' }                      chunks of news documents
 *     { genre: ['news', 'editorial'] }       news or editorial
 *     { docId: 'brown/ca01', lang: 'en' }    both conditions
 */
export type MetadataFilter = Record<string, MetaValue | MetaValue[]>;

/** Checks a user-supplied filter's shape and returns it typed, or throws RagError('INVALID_INPUT'). */
export function validateFilter(filter: unknown): MetadataFilter | undefined {
  if (filter === undefined || filter === null) return undefined;
  if (typeof filter !== 'object' || Array.isArray(filter)) {
    throw new RagError('INVALID_INPUT', 'filter must be an object of metadata key → value or array of values');
  }
  const entries = Object.entries(filter as Record<string, unknown>);
  for (const [key, value] of entries) {
    const values = Array.isArray(value) ? value : [value];
    if (Array.isArray(value) && value.length === 0) {
      throw new RagError('INVALID_INPUT', `filter.${key} is an empty array: it would match nothing`);
    }
    for (const v of values) {
      if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') {
        throw new RagError('INVALID_INPUT', `filter.${key} must be a string, number, boolean or an array of them`);
      }
    }
  }
  return entries.length === 0 ? undefined : (filter as MetadataFilter);
}

/** Compiles a filter into a predicate on chunks. */
export function compileFilter(filter: MetadataFilter): (chunk: Chunk) => boolean {
  const tests = Object.entries(filter).map(([key, value]) => {
    const allowed = new Set<MetaValue>(Array.isArray(value) ? value : [value]);
    return key === 'docId'
      ? (c: Chunk) => allowed.has(c.docId)
      : (c: Chunk) => {
          const v = c.metadata[key];
          return v !== undefined && allowed.has(v);
        };
  });
  return (chunk) => {
    for (const t of tests) if (!t(chunk)) return false;
    return true;
  };
}
