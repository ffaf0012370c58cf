/**
 * npm run bench:writes -- [--duration 10] [--connections 1,16] [--modes group,every,off] [--workers 1]
 *
 * Write throughput with the write-ahead log fsync'd before every 200 (group commit), against one fsync per write
 * and against no fsync at all. For each mode it starts `npm run serve` on a 30-document Brown index with a fresh
 * data directory, and `connections` clients each POST one small document at a time (a new id each, so every write
 * adds a document) for `duration` seconds. It reports acknowledged writes per second, latency percentiles, and WAL
 * records per fsync (rag_wal_fsyncs_total from /metrics): how many writes shared each fsync. Modes run one after
 * another, in interleaved rounds, so the machine's drift lands on all of them.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { Agent } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { loadBrown } from '../corpus/brown.ts';
import { createEngine } from '../engine.ts';
import { ServeProcess } from '../serve/test-process.ts';
import { FSYNC_MODES, type FsyncMode } from '../serve/store/wal.ts';
import { fail, numberFlag, parseCli, runMain } from '../util/cli.ts';
import { percentileNearestRank } from '../util/stats.ts';
import { renderMarkdownTable } from '../util/table.ts';

const USAGE = `Usage: npm run bench:writes -- [options]

Acknowledged writes per second through npm run serve with the write-ahead log fsync'd in group commit (the
default), with one fsync per write, and with no fsync. Each client sends one small ingest at a time.

Options:
  --duration S        seconds of load per mode and round (default 10)
  --connections LIST  concurrent clients, comma-separated (default 1,16)
  --modes LIST        WAL fsync modes to compare (default group,every,off)
  --workers N         server workers (default 1; 2+ = cluster, the primary owns the log)
  --rounds N          interleaved rounds (default 2)
  -h, --help          this text
`;

interface Run {
  mode: FsyncMode;
  connections: number;
  writes: number;
  seconds: number;
  latencies: number[];
  fsyncs: number;
  records: number;
  errors: number;
}

async function load(s: ServeProcess, connections: number, seconds: number, tag: string): Promise<Omit<Run, 'mode' | 'connections' | 'fsyncs' | 'records'>> {
  const agent = new Agent({ keepAlive: true, maxSockets: connections });
  const latencies: number[] = [];
  let errors = 0;
  const until = performance.now() + seconds * 1000;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: connections }, async (_, c) => {
      for (let i = 0; performance.now() < until; i++) {
        const t = performance.now();
        const r = await s
          .call('POST', '/v1/documents', { documents: [{ id: `${tag}/${c}/${i}`, text: `bench write ${i} from client ${c}: a short note.` }] }, { agent })
          .catch(() => undefined);
        if (r?.status === 200) latencies.push(performance.now() - t);
        else errors++;
      }
    }),
  );
  agent.destroy();
  return { writes: latencies.length, seconds: (performance.now() - t0) / 1000, latencies, errors };
}

async function walCounters(s: ServeProcess): Promise<{ fsyncs: number; records: number }> {
  const text = (await s.call('GET', '/metrics')).text;
  const read = (name: string) => Number(text.match(new RegExp(`^${name} (\\d+)`, 'm'))?.[1] ?? NaN);
  return { fsyncs: read('rag_wal_fsyncs_total'), records: read('rag_wal_records_total') };
}

runMain(async () => {
  const { values } = parseCli(USAGE, {
    duration: { type: 'string' },
    connections: { type: 'string' },
    modes: { type: 'string' },
    workers: { type: 'string' },
    rounds: { type: 'string' },
  });
  const duration = numberFlag('duration', values.duration, 10, (n) => n > 0);
  const workers = numberFlag('workers', values.workers, 1, (n) => Number.isInteger(n) && n > 0);
  const rounds = numberFlag('rounds', values.rounds, 2, (n) => Number.isInteger(n) && n > 0);
  const connections = (values.connections ?? '1,16').split(',').map((c) => numberFlag('connections', c, 1, (n) => Number.isInteger(n) && n > 0));
  const modes = (values.modes ?? 'group,every,off').split(',') as FsyncMode[];
  for (const m of modes) if (!FSYNC_MODES.includes(m)) fail(`--modes: "${m}" is not one of ${FSYNC_MODES.join(', ')}`);

  const root = await mkdtemp(join(tmpdir(), 'rag-bench-writes-'));
  const started: ServeProcess[] = [];
  try {
    const indexDir = join(root, 'idx');
    const engine = await createEngine({ llm: null });
    await engine.ingest(await loadBrown({ limit: 30 }));
    await engine.save(indexDir);
    const runs: Run[] = [];
    for (let round = 0; round < rounds; round++) {
      for (const mode of modes) {
        const s = new ServeProcess(['--index', indexDir, '--workers', String(workers), '--wal-fsync', mode, '--data-dir', join(root, `data-${mode}-${round}`)]);
        started.push(s);
        await s.start();
        await s.waitServing();
        for (const c of connections) {
          const before = await walCounters(s);
          const r = await load(s, c, duration, `r${round}c${c}`);
          const after = await walCounters(s);
          runs.push({ mode, connections: c, ...r, fsyncs: after.fsyncs - before.fsyncs, records: after.records - before.records });
          process.stderr.write(`round ${round + 1}/${rounds} ${mode} × ${c}: ${Math.round(r.writes / r.seconds)} writes/s\n`);
        }
        s.child.kill('SIGTERM');
        await s.exit;
      }
    }
    const rows: string[][] = [];
    for (const c of connections) {
      for (const mode of modes) {
        const rs = runs.filter((r) => r.mode === mode && r.connections === c);
        const writes = rs.reduce((a, r) => a + r.writes, 0);
        const secs = rs.reduce((a, r) => a + r.seconds, 0);
        const lat = rs.flatMap((r) => r.latencies).sort((a, b) => a - b);
        const fsyncs = rs.reduce((a, r) => a + r.fsyncs, 0);
        const records = rs.reduce((a, r) => a + r.records, 0);
        rows.push([
          mode,
          String(c),
          String(Math.round(writes / secs)),
          lat.length ? percentileNearestRank(lat, 50).toFixed(2) : '-',
          lat.length ? percentileNearestRank(lat, 99).toFixed(2) : '-',
          fsyncs > 0 ? (records / fsyncs).toFixed(1) : '-',
          String(rs.reduce((a, r) => a + r.errors, 0)),
        ]);
      }
    }
    process.stdout.write(
      `\nnpm run bench:writes -- --duration ${duration} --connections ${connections.join(',')} --modes ${modes.join(',')} --workers ${workers} --rounds ${rounds}\n` +
        `Node ${process.version}, ${new Date().toISOString()}\n\n` +
        renderMarkdownTable(['fsync', 'clients', 'writes/s', 'p50 ms', 'p99 ms', 'writes per fsync', 'errors'], rows, ['l', 'r', 'r', 'r', 'r', 'r', 'r']) +
        '\n',
    );
  } finally {
    await Promise.all(started.map((s) => s.stop()));
    await rm(root, { recursive: true, force: true });
  }
});
