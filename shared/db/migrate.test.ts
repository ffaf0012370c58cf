import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dropSchema, ident, migrate, readMigrations, uniqueSchema, type Migration } from './migrate.ts';
import { databaseUrl, pgSkipReason } from './pg.ts';

describe('readMigrations', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'migrations-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads NNN_name.sql files in version order and ignores other files', () => {
    writeFileSync(path.join(dir, '010_later.sql'), 'SELECT 10');
    writeFileSync(path.join(dir, '002_second.sql'), 'SELECT 2');
    writeFileSync(path.join(dir, '1_first.sql'), 'SELECT 1');
    writeFileSync(path.join(dir, 'README.md'), 'notes');
    writeFileSync(path.join(dir, 'draft.sql'), 'SELECT 0');
    expect(readMigrations(dir).map((m) => [m.version, m.name, m.sql])).toEqual([
      [1, 'first', 'SELECT 1'],
      [2, 'second', 'SELECT 2'],
      [10, 'later', 'SELECT 10'],
    ]);
  });

  it('rejects two files with one version', () => {
    writeFileSync(path.join(dir, '002_again.sql'), 'SELECT 2');
    expect(() => readMigrations(dir)).toThrow(/share version 2/);
  });

  it('reads the engine’s own migrations', () => {
    const ms = readMigrations(new URL('./migrations/', import.meta.url));
    expect(ms[0]).toMatchObject({ version: 1, name: 'documents' });
  });
});

describe('ident', () => {
  it('accepts plain lower-case names and refuses anything else', () => {
    expect(ident('lab12_ab')).toBe('"lab12_ab"');
    for (const bad of ['', 'Docs', 'a;drop', 'x"y', '1abc', 'a'.repeat(64)]) expect(() => ident(bad)).toThrow(/identifier/);
    expect(uniqueSchema('lab12')).toMatch(/^lab12_[0-9a-f]{8}$/);
  });
});

const skip = await pgSkipReason();
if (skip) console.warn(`shared/db/migrate: PostgreSQL tests skipped: ${skip}`);

describe.skipIf(Boolean(skip))(skip ? `migrate (skipped: ${skip})` : 'migrate', () => {
  const clients: pg.Client[] = [];
  const schemas: string[] = [];
  const connect = async () => {
    const c = new pg.Client({ connectionString: databaseUrl() });
    await c.connect();
    clients.push(c);
    return c;
  };
  const freshSchema = () => {
    const s = uniqueSchema('test_migrate');
    schemas.push(s);
    return s;
  };
  const ms: Migration[] = [
    { version: 1, name: 'docs', sql: 'CREATE TABLE docs (id bigint PRIMARY KEY, title text NOT NULL)' },
    { version: 2, name: 'title_index', sql: 'CREATE INDEX docs_title ON docs (title); INSERT INTO docs VALUES (1, $$a$$)' },
  ];
  const tables = async (c: pg.Client, schema: string) =>
    (await c.query('SELECT tablename FROM pg_tables WHERE schemaname = $1 ORDER BY 1', [schema])).rows.map((r) => r.tablename);

  afterAll(async () => {
    const c = clients[0] ?? (await connect());
    for (const s of schemas) await dropSchema(c, s);
    for (const cl of clients) await cl.end();
  });

  it('applies every migration once, in order, into the schema, and records each', async () => {
    const c = await connect();
    const schema = freshSchema();
    const first = await migrate(c, [ms[1], ms[0]], { schema });
    expect(first.applied.map((m) => m.version)).toEqual([1, 2]);
    expect(await tables(c, schema)).toEqual(['docs', 'schema_migrations']);
    const { rows } = await c.query(`SELECT version, name FROM ${ident(schema)}.schema_migrations ORDER BY version`);
    expect(rows).toEqual([
      { version: 1, name: 'docs' },
      { version: 2, name: 'title_index' },
    ]);
    const again = await migrate(c, ms, { schema });
    expect(again.applied).toEqual([]);
    expect(again.skipped.map((m) => m.version)).toEqual([1, 2]);
    expect((await c.query(`SELECT count(*)::int AS n FROM ${ident(schema)}.docs`)).rows[0].n).toBe(1);
  });

  it('rolls a failing migration back whole, records nothing for it, and names it', async () => {
    const c = await connect();
    const schema = freshSchema();
    const bad: Migration = { version: 3, name: 'broken', sql: 'CREATE TABLE half (id int); SELECT no_such_function()' };
    await expect(migrate(c, [...ms, bad], { schema })).rejects.toThrow(/migration 003_broken failed: .*no_such_function/);
    expect(await tables(c, schema)).toEqual(['docs', 'schema_migrations']);
    const { rows } = await c.query(`SELECT max(version) AS v FROM ${ident(schema)}.schema_migrations`);
    expect(rows[0].v).toBe(2);
    // the connection is usable afterwards (not left inside an aborted transaction)
    expect((await c.query('SELECT 1 AS one')).rows[0].one).toBe(1);
  });

  it('refuses an applied migration whose SQL changed', async () => {
    const c = await connect();
    const schema = freshSchema();
    await migrate(c, ms, { schema });
    const edited = [{ ...ms[0], sql: ms[0].sql + ', extra int' }, ms[1]];
    await expect(migrate(c, edited, { schema })).rejects.toThrow(/001_docs was changed after it was applied/);
  });

  it('applies each migration once when two runners migrate the same schema at the same time', async () => {
    const [a, b] = [await connect(), await connect()];
    const schema = freshSchema();
    const [ra, rb] = await Promise.all([migrate(a, ms, { schema }), migrate(b, ms, { schema })]);
    expect([...ra.applied, ...rb.applied].map((m) => m.version).sort()).toEqual([1, 2]);
    expect((await a.query(`SELECT count(*)::int AS n FROM ${ident(schema)}.schema_migrations`)).rows[0].n).toBe(2);
  });
});
