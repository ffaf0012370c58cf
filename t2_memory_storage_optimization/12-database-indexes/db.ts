/**
 * One schema per version of the lesson (before, after, the learner's…), each with the same documents: the engine's
 * table migration (shared/db/migrations), the rows COPYed in, then the version's own index migrations, all recorded
 * in the schema's schema_migrations. Every run uses fresh schemas (`lab12_<8 hex>_<version>`) and drops them after.
 */
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { dropSchema, ident, migrate, readMigrations, uniqueSchema, type Migration } from '../../shared/db/migrate.ts';
import { databaseUrl } from '../../shared/db/pg.ts';
import type { Filter, Sql } from './after.ts';
import { catalogue, rowLines } from './data.ts';

/** The engine's own migrations: the documents table. */
export const tableMigrations = (): Migration[] => readMigrations(new URL('../../shared/db/migrations/', import.meta.url));

export interface Version {
  indexMigrations: Migration[];
  filterQuery(f: Filter): Sql;
}

export interface Prepared {
  /** Schema of each version. */
  schemas: Record<string, string>;
  /** A connection per version, its search_path set to the version's schema (then public, for pg_trgm). */
  clients: Record<string, pg.Client>;
  /** How long each version's index migrations took (ms). */
  indexMs: Record<string, number>;
  /** The ids `f` selects in a version, ascending. */
  ids(version: string, f: Filter): Promise<number[]>;
  /** Drops every schema and closes the connections. */
  close(): Promise<void>;
}

/** A connection whose unqualified names resolve in `schema`, then public. */
async function connect(schema: string): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: databaseUrl(), options: `-c search_path=${ident(schema)},public` });
  await c.connect();
  return c;
}

/**
 * Creates a schema per version, COPYs `rows` documents into all of them at once (one generated stream, one COPY per
 * connection), ANALYZEs, then applies each version's index migrations.
 */
export async function prepare(opts: { rows: number; versions: Record<string, Version>; log?: (m: string) => void }): Promise<Prepared> {
  const log = opts.log ?? (() => {});
  const prefix = uniqueSchema('lab12');
  const names = Object.keys(opts.versions);
  const schemas: Record<string, string> = {};
  const clients: Record<string, pg.Client> = {};
  const indexMs: Record<string, number> = {};
  const admin = new pg.Client({ connectionString: databaseUrl() });
  await admin.connect();
  // index builds sort in memory up to this much (the default 64 MB spills a GIN build of a million titles to disk)
  await admin.query("SET maintenance_work_mem = '256MB'");
  const close = async () => {
    for (const c of Object.values(clients)) await c.end().catch(() => undefined);
    for (const s of Object.values(schemas)) await dropSchema(admin, s).catch(() => undefined);
    await admin.end().catch(() => undefined);
  };
  try {
    for (const name of names) {
      const schema = `${prefix}_${name.replace(/[^a-z0-9]+/g, '_')}`.slice(0, 63);
      schemas[name] = schema;
      await migrate(admin, tableMigrations(), { schema });
      clients[name] = await connect(schema);
    }
    log(`COPY ${opts.rows.toLocaleString('en-US')} documents into ${names.length} schema(s)`);
    const cat = await catalogue();
    const copies = names.map((n) => clients[n].query(copyFrom('COPY docs (id, tenant_id, published, title, meta, excerpt) FROM STDIN')));
    const done = copies.map((s) => once(s, 'finish'));
    for (const batch of rowLines(cat, opts.rows)) {
      await Promise.all(copies.map((s) => (s.write(batch) ? undefined : once(s, 'drain'))));
    }
    for (const s of copies) s.end();
    await Promise.all(done);
    await Promise.all(names.map((n) => clients[n].query('ANALYZE docs')));
    for (const name of names) {
      const ms = opts.versions[name].indexMigrations;
      if (ms.length === 0) continue;
      const t0 = performance.now();
      await migrate(admin, ms, { schema: schemas[name], log });
      indexMs[name] = performance.now() - t0;
    }
  } catch (err) {
    await close();
    throw err;
  }
  return {
    schemas,
    clients,
    indexMs,
    async ids(version, f) {
      const q = opts.versions[version].filterQuery(f);
      const { rows } = await clients[version].query<{ id: string }>(q.text, q.values);
      return rows.map((r) => Number(r.id));
    },
    close,
  };
}

/** A plan node of EXPLAIN (FORMAT JSON), the fields used here. */
export interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  'Index Cond'?: string;
  'Recheck Cond'?: string;
  Filter?: string;
  'Shared Hit Blocks'?: number;
  'Shared Read Blocks'?: number;
  Plans?: PlanNode[];
}

/** The plan of `q` (EXPLAIN with `options`, e.g. 'FORMAT JSON' or 'ANALYZE, BUFFERS, FORMAT JSON'). */
export async function explain(client: pg.Client, q: Sql, options = 'FORMAT JSON'): Promise<PlanNode> {
  const { rows } = await client.query(`EXPLAIN (${options}) ${q.text}`, q.values);
  return (rows[0]['QUERY PLAN'] as { Plan: PlanNode }[])[0].Plan;
}

export function* planNodes(node: PlanNode): Generator<PlanNode> {
  yield node;
  for (const child of node.Plans ?? []) yield* planNodes(child);
}

/** One line per plan: "Sort > Bitmap Heap Scan on docs > Bitmap Index Scan using docs_tenant (tenant_id = 567)". */
export function outline(plan: PlanNode): string {
  return [...planNodes(plan)]
    .map((n) => {
      let s = n['Node Type'];
      if (n['Relation Name']) s += ` on ${n['Relation Name']}`;
      if (n['Index Name']) s += ` using ${n['Index Name']}`;
      const cond = n['Index Cond'] ?? n.Filter;
      if (cond) s += ` ${n['Index Cond'] ? 'cond' : 'filter'} ${cond}`;
      return s;
    })
    .join(' > ');
}

/**
 * Does the plan find its rows of `table` through an index condition? False when any node reads the table whole: a
 * Seq Scan, or an index scanned without a condition (every entry, with a Filter on each row).
 */
export function usesIndex(plan: PlanNode, table = 'docs'): boolean {
  let indexed = false;
  for (const n of planNodes(plan)) {
    const type = n['Node Type'];
    if (type === 'Seq Scan' && n['Relation Name'] === table) return false;
    if (type === 'Index Scan' || type === 'Index Only Scan') {
      if (n['Relation Name'] !== table) continue;
      if (!n['Index Cond']) return false;
      indexed = true;
    }
    if (type === 'Bitmap Index Scan' && n['Index Cond']) indexed = true;
  }
  return indexed;
}

/** The indexes on `<schema>.docs`, as CREATE INDEX statements without the schema. */
export async function indexDefs(client: pg.Client, schema: string): Promise<string[]> {
  const { rows } = await client.query<{ indexdef: string }>(
    "SELECT indexdef FROM pg_indexes WHERE schemaname = $1 AND tablename = 'docs' ORDER BY indexname",
    [schema],
  );
  return rows.map((r) => r.indexdef.replace(`${schema}.`, ''));
}
