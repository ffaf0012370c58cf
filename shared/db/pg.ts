/**
 * Where the PostgreSQL server is, and whether it (and an extension) can be used: so a test or lesson that needs it
 * skips with a reason and the command that fixes it instead of failing.
 *
 *     DATABASE_URL, default postgres://postgres@127.0.0.1:5432/test (trust auth on the lab machine)
 */
import pg from 'pg';

export const databaseUrl = (): string => process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test';

/** undefined when the server answers within a second, else why not and how to start it. */
export async function pgSkipReason(url = databaseUrl()): Promise<string | undefined> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1_000 });
  c.on('error', () => undefined);
  try {
    await c.connect();
    await c.query('SELECT 1');
    return undefined;
  } catch (err) {
    return (
      `PostgreSQL unreachable at ${url} (${(err as Error).message || 'no answer'}): start it with \`service postgresql start\` ` +
      '(or `docker run -d -p 5432:5432 -e POSTGRES_HOST_AUTH_METHOD=trust postgres`), or set DATABASE_URL'
    );
  } finally {
    await c.end().catch(() => undefined);
  }
}

/** undefined when the server can install `extension` (it is in pg_available_extensions), else why not. */
export async function extensionSkipReason(extension: string, url = databaseUrl()): Promise<string | undefined> {
  const down = await pgSkipReason(url);
  if (down) return down;
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1_000 });
  try {
    await c.connect();
    const { rows } = await c.query('SELECT 1 FROM pg_available_extensions WHERE name = $1', [extension]);
    return rows.length > 0
      ? undefined
      : `the PostgreSQL server at ${url} does not have the ${extension} extension: install the server's contrib package ` +
          '(Debian: postgresql-contrib)';
  } finally {
    await c.end().catch(() => undefined);
  }
}
