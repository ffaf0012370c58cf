/**
 * Schema by migrations, for PostgreSQL through `pg`: numbered SQL files applied in order, each in its own transaction,
 * each recorded in a table so it is applied once.
 *
 *     shared/db/migrations/001_documents.sql      NNN_<name>.sql: version NNN (any number of digits), then a name
 *     …/002_filter_indexes.sql
 *
 *     const applied = await migrate(client, readMigrations(dir), { schema: 'lab12_ab12cd34' });
 *
 * - **One transaction per migration**: its SQL and the row recording it commit together, or neither does (a failing
 *   migration leaves the schema as the previous one left it, and the error names the file). Statements that cannot
 *   run in a transaction (CREATE INDEX CONCURRENTLY, VACUUM) do not belong in these files.
 * - **Recorded**: `schema_migrations (version, name, checksum, applied_at)` in the target schema. Applied versions are
 *   skipped; an applied migration whose SQL has changed since (sha-256 differs) is an error, not silently ignored.
 * - **Concurrent runners** of the same schema wait for each other (a transaction-scoped advisory lock per schema);
 *   each migration is checked again under the lock, so it is applied once.
 * - **Schema**: with `schema`, the schema is created if missing and every migration runs with
 *   `search_path = <schema>, public`: the SQL names its tables unqualified, and extensions installed in `public`
 *   (pg_trgm's operators and operator classes) resolve.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import { RagError } from '../errors.ts';

export interface Migration {
  /** Order of application; unique. */
  version: number;
  /** What it does, as in the file name: 'filter_indexes'. */
  name: string;
  sql: string;
}

export interface MigrateOptions {
  /** Schema to migrate (created if missing). Default: the connection's current search_path. */
  schema?: string;
  /** The table recording applied migrations. Default 'schema_migrations'. */
  table?: string;
  /** Progress lines. */
  log?: (msg: string) => void;
}

export interface MigrateResult {
  /** Migrations this call applied, in order. */
  applied: Migration[];
  /** Migrations that were already applied. */
  skipped: Migration[];
}

const FILE = /^(\d+)_([A-Za-z0-9_-]+)\.sql$/;
const IDENT = /^[a-z_][a-z0-9_]{0,62}$/;

/** The migrations in `dir` (files `NNN_<name>.sql`; other files are ignored), by version. */
export function readMigrations(dir: string | URL): Migration[] {
  const d = typeof dir === 'string' ? dir : fileURLToPath(dir);
  const out: Migration[] = [];
  for (const f of readdirSync(d).sort()) {
    const m = FILE.exec(f);
    if (!m) continue;
    out.push({ version: Number(m[1]), name: m[2], sql: readFileSync(path.join(d, f), 'utf8') });
  }
  return checkOrder(out);
}

/** `name` as an SQL identifier; only plain lower-case names are accepted (no quoting games). */
export function ident(name: string): string {
  if (!IDENT.test(name)) throw new RagError('INVALID_INPUT', `not a plain SQL identifier: ${JSON.stringify(name)}`);
  return `"${name}"`;
}

/** A schema name no other run uses: `<prefix>_<8 hex>`. */
export function uniqueSchema(prefix: string): string {
  return ident(`${prefix}_${randomBytes(4).toString('hex')}`).slice(1, -1);
}

/** Drops a schema and everything in it (tables, indexes, the migrations table). */
export async function dropSchema(client: pg.ClientBase, schema: string): Promise<void> {
  await client.query(`DROP SCHEMA IF EXISTS ${ident(schema)} CASCADE`);
}

function checksum(sql: string): string {
  return createHash('sha256').update(sql).digest('hex');
}

function label(m: Migration): string {
  return `${String(m.version).padStart(3, '0')}_${m.name}`;
}

function checkOrder(ms: Migration[]): Migration[] {
  const sorted = [...ms].sort((a, b) => a.version - b.version);
  for (let i = 0; i < sorted.length; i++) {
    const m = sorted[i];
    if (!Number.isInteger(m.version) || m.version < 0) throw new RagError('INVALID_INPUT', `migration ${m.name}: bad version ${m.version}`);
    if (i > 0 && sorted[i - 1].version === m.version) {
      throw new RagError('INVALID_INPUT', `migrations ${label(sorted[i - 1])} and ${label(m)} share version ${m.version}`);
    }
  }
  return sorted;
}

/** Applies the migrations not yet recorded in the schema, in version order, each in its own transaction. */
export async function migrate(client: pg.ClientBase, migrations: readonly Migration[], opts: MigrateOptions = {}): Promise<MigrateResult> {
  const ms = checkOrder([...migrations]);
  const schema = opts.schema;
  const table = (schema ? `${ident(schema)}.` : '') + ident(opts.table ?? 'schema_migrations');
  const log = opts.log ?? (() => {});
  const lockKey = `migrations:${schema ?? ''}`;
  const enter = async () => {
    await client.query('BEGIN');
    if (schema) await client.query(`SET LOCAL search_path TO ${ident(schema)}, public`);
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [lockKey]);
  };

  // the schema and the table that records what was applied
  await enter();
  try {
    if (schema) await client.query(`CREATE SCHEMA IF NOT EXISTS ${ident(schema)}`);
    await client.query(
      `CREATE TABLE IF NOT EXISTS ${table} (version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL, ` +
        'applied_at timestamptz NOT NULL DEFAULT now())',
    );
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK');
    throw err;
  }

  const result: MigrateResult = { applied: [], skipped: [] };
  for (const m of ms) {
    await enter();
    try {
      const { rows } = await client.query<{ checksum: string }>(`SELECT checksum FROM ${table} WHERE version = $1`, [m.version]);
      if (rows.length > 0) {
        if (rows[0].checksum !== checksum(m.sql)) {
          throw new RagError('MIGRATION_CHANGED', `migration ${label(m)} was changed after it was applied (checksum differs); add a new migration instead`);
        }
        await client.query('COMMIT');
        result.skipped.push(m);
        continue;
      }
      log(`migration ${label(m)}${schema ? ` in ${schema}` : ''}`);
      try {
        await client.query(m.sql);
      } catch (err) {
        throw new RagError('MIGRATION_FAILED', `migration ${label(m)} failed: ${(err as Error).message}`);
      }
      await client.query(`INSERT INTO ${table} (version, name, checksum) VALUES ($1, $2, $3)`, [m.version, m.name, checksum(m.sql)]);
      await client.query('COMMIT');
      result.applied.push(m);
    } catch (err) {
      await client.query('ROLLBACK');
      throw err;
    }
  }
  return result;
}
