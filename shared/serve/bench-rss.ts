/**
 * RSS of the whole service (primary + every worker) by worker count: the baseline for "one copy of the index per
 * machine" (issue 11). For each --workers N it starts `npm run serve` on the index (its own temporary data
 * directory), waits until it serves, sends queries on fresh connections (spread over the workers), and reads every
 * process's VmRSS and Pss (proportional set size: a page shared by k processes counts 1/k in each) from /proc.
 *
 *     npx tsx shared/serve/bench-rss.ts --index .cache/idx-100k --workers 1,2,4 --queries 2000 [--no-mmap]
 *
 * By default the server maps the index files (shared/index/mmap.ts: one copy per machine, shared through the page
 * cache); --no-mmap runs it with RAG_MMAP=0 (each process reads its own copy), the before of that change.
 *
 * The server runs with `--max-lag-ms 0 --deadline-ms 30000` (memory is measured, not latency: a busy machine must not
 * turn queries into 503s). Linux only (/proc). Prints a Markdown table (MB = 2^20 bytes) and progress on stderr.
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { Agent } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fail, numberFlag, parseCli, runMain } from '../util/cli.ts';
import { descendants, ServeProcess } from './test-process.ts';

const USAGE = `
Usage: npx tsx shared/serve/bench-rss.ts --index <dir> [--workers 1,2,4] [--queries N] [--no-mmap]

Starts npm run serve on <dir> with each worker count in turn and prints the RSS and PSS of the primary, of each
worker and in all, once serving and after N queries (default 2000; 0 = none).
  --no-mmap   the server reads the index files into each process (RAG_MMAP=0) instead of mapping them
`;

interface Sample {
  pid: number;
  /** The executable's name (/proc/<pid>/comm): node, or a helper such as the esbuild service tsx starts. */
  comm: string;
  rssMB: number;
  pssMB: number;
}

function sample(pid: number): Sample {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rss = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0);
  let pss = 0;
  try {
    pss = Number(/Pss:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))?.[1] ?? 0);
  } catch {
    // no smaps_rollup (old kernel): PSS unknown
  }
  const comm = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  return { pid, comm, rssMB: rss / 1024, pssMB: pss / 1024 };
}

function tree(rootPid: number): Sample[] {
  return [rootPid, ...descendants(rootPid)].map(sample);
}

const QUERIES = ['grand jury election', 'the county court', 'atlanta primary runoff', 'fulton tax', 'mayor and the city council', 'state highway bonds', 'a jury said it did find'];

runMain(async () => {
  const { values } = parseCli(USAGE, {
    index: { type: 'string' },
    workers: { type: 'string' },
    queries: { type: 'string' },
    'no-mmap': { type: 'boolean', default: false },
  });
  if (!existsSync('/proc/self/status')) fail('needs Linux (/proc)');
  if (!values.index) fail('--index <dir> is required');
  const index = resolve(values.index);
  const counts = (values.workers ?? '1,2,4').split(',').map((w) => numberFlag('workers', w, 1, (n) => Number.isInteger(n) && n > 0));
  const queries = numberFlag('queries', values.queries, 2000, (n) => Number.isInteger(n) && n >= 0);
  const rows: string[] = [];
  for (const n of counts) {
    const data = await mkdtemp(join(tmpdir(), 'rag-rss-'));
    // memory, not latency: no shedding, a long deadline (on a busy machine queries are slow, not refused)
    const s = new ServeProcess(
      ['--index', index, '--workers', String(n), '--data-dir', data, '--max-lag-ms', '0', '--deadline-ms', '30000'],
      values['no-mmap'] ? { RAG_MMAP: '0' } : {},
    );
    try {
      process.stderr.write(`--workers ${n}: starting\n`);
      await s.start();
      await s.waitServing(600_000);
      await new Promise((r) => setTimeout(r, 2000));
      const idle = tree(s.child.pid!);
      process.stderr.write(`--workers ${n}: serving, ${idle.length} processes, RSS ${idle.reduce((a, x) => a + x.rssMB, 0).toFixed(0)} MB; ${queries} queries\n`);
      const agent = new Agent({ keepAlive: false });
      for (let i = 0; i < queries; i += 8) {
        await Promise.all(
          Array.from({ length: Math.min(8, queries - i) }, (_, j) =>
            s.call('POST', '/v1/query', { query: `${QUERIES[(i + j) % QUERIES.length]} ${i + j}`, k: 10 }, { agent }).then((r) => {
              if (r.status !== 200) throw new Error(`query answered ${r.status}: ${r.text.slice(0, 200)}`);
            }),
          ),
        );
      }
      const loaded = tree(s.child.pid!);
      const fmt = (xs: Sample[]) => {
        const [primary, ...rest] = xs;
        const workers = rest.filter((x) => x.comm === 'node');
        const other = rest.filter((x) => x.comm !== 'node');
        const total = xs.reduce((a, x) => a + x.rssMB, 0);
        const pss = xs.reduce((a, x) => a + x.pssMB, 0);
        const w = workers.map((x) => x.rssMB.toFixed(0)).join(' + ');
        const o = other.length ? `${other.reduce((a, x) => a + x.rssMB, 0).toFixed(0)} (${other.length} ${[...new Set(other.map((x) => x.comm))].join(', ')})` : '0';
        return { primary: primary.rssMB.toFixed(0), workers: w || '–', other: o, total: total.toFixed(0), pss: pss.toFixed(0) };
      };
      const a = fmt(idle);
      const b = fmt(loaded);
      rows.push(`| ${n} | ${a.primary} | ${a.workers} | ${a.other} | **${a.total}** | ${a.pss} | ${b.primary} | ${b.workers} | **${b.total}** | ${b.pss} |`);
      process.stderr.write(`--workers ${n}: after queries RSS ${b.total} MB\n`);
    } finally {
      await s.stop();
      await rm(data, { recursive: true, force: true });
    }
  }
  process.stdout.write(
    [
      `index: ${index}; ${queries} queries after start (hybrid, k = 10, on fresh connections); index files ${values['no-mmap'] ? 'read into each process (RAG_MMAP=0)' : 'memory-mapped when the addon loads (shared/index/mmap.ts)'}`,
      '',
      'Once serving, then after the queries. With --workers 1 the "primary" is the one serving process. "other": helper',
      'processes of the tree (the esbuild service tsx starts to compile TypeScript), counted in the totals.',
      '',
      '| workers | primary MB | each worker MB | other MB | total RSS MB | total PSS MB | primary MB (after) | each worker MB (after) | total RSS MB (after) | total PSS MB (after) |',
      '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
      ...rows,
      '',
    ].join('\n'),
  );
});
