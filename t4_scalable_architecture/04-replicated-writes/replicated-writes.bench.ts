/**
 * Benchmark for 04-replicated-writes: the local write-ahead log with in-process fan-out (before) against a NATS
 * JetStream stream read by replicas on other connections, standing for other machines (after).
 * Run: npm run t4 -- --only 04-replicated-writes [--quick] [--impl exercise]
 *
 * Headline: the share of writes that a replica on another machine (a second `openLog`, its own data directory and
 * NATS connection) applied: writes sent with `replicas: 0`, then up to 2 s for the remote replica to apply them.
 * Beside it, the price and the recovery:
 *   - write latency, one write at a time, acknowledged when stored (replicas: 0), by 1 replica, by all (2), p50 and
 *     p99. Two replicas: on other machines where the variant can reach them, else in the writer's process (before);
 *   - catch-up: a replica stopped for N writes, restarted from its snapshot: time until it applied all N (3 trials);
 *   - acknowledged writes lost after kill -9 of a writer process and of a replica process (after: the engine's
 *     JetStreamWritePath / JetStreamReplica in child processes, shared/services/jetstream-log-proc.ts; the local log
 *     has no replica outside its process to kill).
 * The replicas' engine is a ledger (documents in a Map): the figures are the log's cost, not an ingest's. The timed
 * call (tinybench) is one write acknowledged by both replicas.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defineLesson, EXERCISE, type Metric } from '../../shared/lab/lesson.ts';
import { measured } from '../../shared/lab/metric.ts';
import type { ApplyOutcome, LogOp, WriteOp } from '../../shared/serve/writes.ts';
import { readLedger } from '../../shared/services/jetstream-log-proc.ts';
import { connectNats, deleteWriteLog, JetStreamReplica, JetStreamWritePath, NATS_URL, natsSkipReason } from '../../shared/services/jetstream-log.ts';
import * as after from './after.ts';
import * as before from './before.ts';

type Mod = typeof after;
type Open = Mod['openLog'];
type Log = Awaited<ReturnType<Open>>;

const HEADLINE = 'writes applied on another machine';

interface Size {
  /** Sequential writes per acknowledgement level. */
  writes: number;
  /** Bytes of text per written document. */
  docBytes: number;
  /** Writes a replica misses while it is down (catch-up). */
  downFor: number;
  trials: number;
  /** Writes sent to probe the other machine. */
  probe: number;
}

interface Timed {
  log: Log;
  logs: Log[];
  n: number;
}

interface Input {
  size: Size;
  root: string;
  text: string;
  creators: Record<string, Open>;
  timed: Record<string, Timed>;
}

let seq = 0;
const uniq = () => `b04_${process.pid}_${Date.now().toString(36)}_${seq++}`;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function ledger() {
  const docs = new Map<string, string>();
  const l = {
    docs,
    version: 0,
    apply: async (v: number, op: LogOp): Promise<ApplyOutcome> => {
      if (op.kind === 'ingest') for (const d of op.docs) docs.set(d.id, d.text);
      else if (op.kind === 'delete') for (const id of op.ids) docs.delete(id);
      l.version = v;
      return { ok: true, result: {} };
    },
  };
  return l;
}

async function until(cond: () => boolean, ms: number): Promise<boolean> {
  const end = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > end) return false;
    await sleep(2);
  }
  return true;
}

/** A writer machine and two replicas: on two other machines if the variant reaches them, else in the writer's process. */
async function topology(input: Input, open: Open, name: string): Promise<{ writer: Log; logs: Log[]; remote: boolean; probeApplied: number[] }> {
  const machine = async () => open({ name, dataDir: mkdtempSync(join(input.root, 'm-')), servers: NATS_URL, timeoutMs: 10_000 });
  const writer = await machine();
  const other = await machine();
  const probe = ledger();
  const probing = await other.startReplica('probe', 0, probe.apply);
  const versions: number[] = [];
  for (let i = 0; i < input.size.probe; i++) versions.push((await writer.submit(op(input, `probe${i}`), { replicas: 0 })).version);
  await until(() => probe.version >= versions[versions.length - 1], 2000);
  const probeApplied = versions.map((v) => (v <= probe.version ? 100 : 0));
  const remote = probe.version >= versions[versions.length - 1];
  await probing.stop(); // out of the replica set: 'all' below means r1 and r2
  const logs = [writer, other];
  if (remote) {
    const third = await machine();
    logs.push(third);
    await other.startReplica('r1', 0, ledger().apply);
    await third.startReplica('r2', 0, ledger().apply);
  } else {
    await writer.startReplica('r1', 0, ledger().apply);
    await writer.startReplica('r2', 0, ledger().apply);
  }
  return { writer, logs, remote, probeApplied };
}

const op = (input: Input, id: string): WriteOp => ({ kind: 'ingest', docs: [{ id, text: input.text }] });

async function teardownLogs(logs: Log[]): Promise<void> {
  for (const l of logs.slice(1)) await l.close().catch(() => {});
  await logs[0]?.destroy().catch(() => {});
}

/** Spawns the engine's writer or replica as a process; resolves its stdout lines as they come. */
function child(args: string[]) {
  const c = spawn(process.execPath, ['--import', 'tsx', 'shared/services/jetstream-log-proc.ts', ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines: string[] = [];
  let buf = '';
  c.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    const parts = buf.split('\n');
    buf = parts.pop()!;
    lines.push(...parts);
  });
  const exited = new Promise<void>((r) => c.once('exit', () => r()));
  return { c, lines, exited };
}

/** kill -9 of a writer process, then of a replica process: acknowledged writes missing afterwards (engine, after). */
async function killNine(input: Input): Promise<{ writerLost: number; writerAcked: number; replicaLost: number; replicaAcked: number }> {
  const nc = await connectNats();
  const index = uniq();
  const file = join(mkdtempSync(join(input.root, 'k-')), 'r2.json');
  const kids: Array<ReturnType<typeof child>> = [];
  try {
    const r1 = ledger();
    const rep1 = await JetStreamReplica.start({ nc, index, id: 'r1', fromVersion: 0, apply: r1.apply });
    let r2 = child(['replica', NATS_URL, index, 'r2', file, '5']);
    const w = child(['writer', NATS_URL, index, '100000', 'w', 'all']);
    kids.push(r2, w);
    await until(() => w.lines.length >= 30, 10_000);
    r2.c.kill('SIGKILL'); // the replica first: the writer's 'all' then waits for it …
    await r2.exited;
    await sleep(100);
    w.c.kill('SIGKILL'); // … and dies waiting
    await w.exited;
    const acked = w.lines.filter((l) => l.startsWith('ACK ')).map((l) => l.split(' ')[1]);
    const writerLost = acked.filter((id) => !r1.docs.has(id)).length;
    r2 = child(['replica', NATS_URL, index, 'r2', file, '5']);
    kids.push(r2);
    await until(() => r2.lines.some((l) => l.startsWith('READY')), 10_000);
    // one more write acknowledged by all: the restarted process caught up with everything; then its snapshot on SIGTERM
    const last = await JetStreamWritePath.open({ nc, index, timeoutMs: 20_000 });
    await last.submit({ kind: 'ingest', docs: [{ id: 'last', text: 'last' }] });
    await last.close();
    r2.c.kill('SIGTERM');
    await r2.exited;
    const docs = new Map(readLedger(file).docs);
    const replicaLost = acked.filter((id) => !docs.has(id)).length;
    await rep1.stop();
    return { writerLost, writerAcked: acked.length, replicaLost, replicaAcked: acked.length };
  } finally {
    for (const k of kids) if (k.c.exitCode === null && k.c.signalCode === null) k.c.kill('SIGKILL');
    await deleteWriteLog(nc, index);
    await nc.drain();
  }
}

export default defineLesson<Size, Input>({
  id: 't4/04-replicated-writes',
  title: 'Replicated writes: the local write-ahead log with in-process fan-out vs a NATS JetStream stream every machine reads',
  workload:
    'one-document ingests (1 KB of text) through a writer machine to two replicas (a ledger each, not the engine); ' +
    'headline: the share of writes a replica on another machine applied; beside it write latency acknowledged when stored / by 1 / by all, ' +
    'catch-up of a replica down for N writes, acknowledged writes lost after kill -9. The timed call is one write acknowledged by both replicas',
  sizes: {
    quick: { writes: 100, docBytes: 1000, downFor: 500, trials: 3, probe: 20 },
    full: { writes: 1000, docBytes: 1000, downFor: 5000, trials: 3, probe: 100 },
  },
  skip: () => natsSkipReason(),
  setup: async (size, ctx) => {
    const root = mkdtempSync(join(tmpdir(), 'rag-t4-04-bench-'));
    const text = 'replicated write '.repeat(Math.ceil(size.docBytes / 17)).slice(0, size.docBytes);
    const creators: Record<string, Open> = { before: before.openLog, after: after.openLog };
    const ex = ctx.exercise as Mod | undefined;
    if (ex) creators[EXERCISE] = ex.openLog;
    const input: Input = { size, root, text, creators, timed: {} };
    for (const [variant, open] of Object.entries(creators)) {
      let t: Awaited<ReturnType<typeof topology>>;
      try {
        t = await topology(input, open, uniq());
      } catch (err) {
        if (variant !== EXERCISE) throw err;
        ctx.log(`exercise: could not open: ${(err as Error).message}`);
        continue;
      }
      input.timed[variant] = { log: t.writer, logs: t.logs, n: 0 };
      ctx.log(`${variant}: timed writes go ${t.remote ? 'to replicas on two other machines' : "to replicas in the writer's process"}`);
    }
    return input;
  },
  teardown: async (input) => {
    for (const t of Object.values(input.timed)) await teardownLogs(t.logs);
    rmSync(input.root, { recursive: true, force: true });
  },
  baseline: 'before',
  headline: { name: HEADLINE, unit: '%', better: 'higher', metric: HEADLINE },
  variants: {
    before: (input) => input.timed.before.log.submit(op(input, `t${input.timed.before.n++}`)),
    after: (input) => input.timed.after.log.submit(op(input, `t${input.timed.after.n++}`)),
  },
  exercise: (input) => {
    const t = input.timed[EXERCISE];
    if (!t) throw new Error('exercise.ts could not open a log (see the setup line above)');
    return t.log.submit(op(input, `t${t.n++}`));
  },
  options: { iterations: 20, time: 100, warmupTime: 20 },
  extras: async (input, ctx) => {
    const { size } = input;
    const metrics: Metric[] = [];
    for (const [variant, open] of Object.entries(input.creators)) {
      const v = { variant };
      let t: Awaited<ReturnType<typeof topology>>;
      try {
        t = await topology(input, open, uniq());
      } catch (err) {
        if (variant !== EXERCISE) throw err;
        ctx.log(`exercise: could not open: ${(err as Error).message}`);
        continue;
      }
      try {
        const where = t.remote ? 'two replicas on other machines (own NATS connections)' : "two replicas in the writer's process (the local log reaches no other machine)";
        metrics.push(
          measured(HEADLINE, '%', t.probeApplied, {
            ...v,
            note: `${t.probeApplied.filter((x) => x > 0).length} of ${size.probe} writes (replicas: 0) applied by a replica opened through a second openLog within 2 s`,
          }),
        );
        // warm-up: the first writes open a log segment, a consumer, a connection's buffers
        for (let i = 0; i < 10; i++) await t.writer.submit(op(input, `warm${i}`));
        for (const level of [0, 1, 'all'] as const) {
          const lat: number[] = [];
          for (let i = 0; i < size.writes; i++) {
            const t0 = performance.now();
            await t.writer.submit(op(input, `l${String(level)}-${i}`), { replicas: level });
            lat.push(performance.now() - t0);
          }
          const label = level === 0 ? 'stored (replicas: 0)' : level === 1 ? 'applied by 1 replica' : 'applied by all (2)';
          metrics.push(
            measured(`write latency p50, ${label}`, 'ms', lat, { ...v, stat: 'median', note: `${size.writes} writes one at a time; ${where}` }),
            measured(`write latency p99, ${label}`, 'ms', lat, { ...v, stat: 'p99' }),
          );
        }
        // catch-up: a replica down for N writes, restarted from its snapshot (its ledger kept as it was)
        const catchUp: number[] = [];
        const home = t.remote ? t.logs[1] : t.writer;
        for (let trial = 0; trial < size.trials; trial++) {
          const l = ledger();
          const id = `c${trial}`;
          const h = await home.startReplica(id, 0, l.apply);
          const at = (await t.writer.submit(op(input, `c${trial}-0`))).version; // 'all': applied by c too
          await h.stop();
          const from = l.version;
          const batch = 100;
          for (let i = 0; i < size.downFor; i += batch) {
            await Promise.all(Array.from({ length: Math.min(batch, size.downFor - i) }, (_, k) => t.writer.submit(op(input, `c${trial}-${i + k + 1}`), { replicas: 0 })));
          }
          const target = at + size.downFor;
          const t0 = performance.now();
          const back = await home.startReplica(id, from, l.apply);
          const ok = await until(() => l.version >= target, 30_000);
          catchUp.push(performance.now() - t0);
          await back.stop();
          if (!ok) ctx.log(`${variant}: catch-up trial ${trial} reached ${l.version} of ${target}`);
        }
        metrics.push(
          measured(`catch-up of a replica down for ${size.downFor} writes`, 'ms', catchUp, {
            ...v,
            note: `restart from its snapshot to applying all ${size.downFor}; ${size.trials} trials; replica ${t.remote ? 'on another machine' : "in the writer's process"}`,
          }),
        );
      } finally {
        await teardownLogs(t.logs);
      }
    }
    if (input.creators.after) {
      ctx.log('kill -9: a writer process and a replica process (the engine, shared/services/jetstream-log-proc.ts)');
      const k = await killNine(input);
      metrics.push(
        { name: 'acknowledged writes lost, writer killed -9', value: k.writerLost, unit: 'writes', variant: 'after', note: `of ${k.writerAcked} acknowledged ('all') before the kill; checked on the surviving replica` },
        { name: 'acknowledged writes lost, replica killed -9', value: k.replicaLost, unit: 'writes', variant: 'after', note: `of ${k.replicaAcked}; the replica process restarted from its snapshot and caught up` },
      );
    }
    return { metrics };
  },
});
