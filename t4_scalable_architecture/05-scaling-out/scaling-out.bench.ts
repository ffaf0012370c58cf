/**
 * Benchmark for 05-scaling-out: one shard's retriever as 1, 2 and 4 replicas (processes holding the same index,
 * pinned with taskset: replica r on CPU r mod 2) behind the gateway's balancer (replica-set.ts, least outstanding),
 * and behind HAProxy 2.6 (Debian's) as the real front, measured under the same closed-loop load; plus the CPU each
 * process spends per query, from which the projection to 8-64 replicas is computed.
 * Run: npm run t4 -- --only 05-scaling-out [--quick] [--impl exercise]
 *
 * What runs (all on 127.0.0.1, started by `startSplit`, what `npm run t4:up -- --shards 1 --replicas 4 --cpus 0,1`
 * starts): the embedder, 4 replicas of the one shard (the whole Brown index: 6,498 chunks, exact vectors), and one
 * gateway per row: over replica 0 (1 replica), over replicas 0-1 (2: one per core), over 0-3 (4: two per core,
 * oversubscribed). The gateways and the embedder are not pinned; the load generator (autocannon, in this process)
 * is not either: its CPU is measured and counted like the others'.
 *
 * The headline is throughput (QPS) under a closed loop: N connections, each sends its next query when the previous
 * answer arrives, so QPS is what the system can do at that concurrency. Scaling efficiency = QPS(n) / (n × QPS(1)).
 * CPU per query (ms) of each process comes from /proc/<pid>/stat (utime + stime) over the measured window ÷ answers.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';
import { defineLesson, EXERCISE, type Curve, type Metric } from '../../shared/lab/lesson.ts';
import { runLoad } from '../../shared/loadtest/driver.ts';
import { brownPhraseSource, distinctPhrases, type PhraseSource } from '../../shared/loadtest/workloads.ts';
import { ensureSplitIndex, startSplit, type Split } from '../../shared/services/cli-up.ts';
import { haproxyPath, startHaproxy, type Haproxy } from './haproxy.ts';

const HEADLINE = 'throughput under load';
const EXERCISE_FILE = fileURLToPath(new URL('./exercise.ts', import.meta.url));
const CPUS = ['0', '1'];

interface Size {
  /** autocannon connections (closed loop), warm-up and measured seconds per row and round. */
  connections: number;
  warmup: number;
  duration: number;
  rounds: number;
  /** Shard counts measured besides 1 (each its own split, 1 replica per shard, pinned in turn). */
  shardCounts: number[];
}

/** Processes whose CPU is counted for a row, by role. */
interface Row {
  name: string;
  label: string;
  url: string;
  replicas: number;
  shards: number;
  pids: Record<string, number[]>;
  pool: Pool;
}

interface Input {
  size: Size;
  split: Split;
  haproxy?: Haproxy;
  haproxySkip?: string;
  rows: Row[];
  src: PhraseSource;
  phrases: string[];
  next: number;
}

/** CPU time (user + system) of a process so far, ms; 0 when it is gone. */
function cpuMs(pid: number): number {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1000) / 100; // USER_HZ = 100 on Linux
  } catch {
    return 0;
  }
}

async function query(url: string, pool: Pool, text: string): Promise<number> {
  const res = await pool.request({ method: 'POST', path: '/v1/query', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: text, k: 10, mode: 'hybrid', answer: false }) });
  await res.body.json();
  return res.statusCode;
}

function oneQuery(input: Input, name: string): Promise<unknown> {
  const r = input.rows.find((x) => x.name === name)!;
  return query(r.url, r.pool, input.phrases[input.next++ % input.phrases.length]);
}

const pidsOf = (s: { pid?: number }[]) => s.map((x) => x.pid!).filter((p) => p !== undefined);

export default defineLesson<Size, Input>({
  id: 't4/05-scaling-out',
  title: 'Scaling out: 1 → 2 → 4 replicas of a retriever shard behind a balancer (the gateway’s, and HAProxy)',
  workload:
    'hybrid queries (k = 10, no answer) over HTTP on loopback against the Brown index (6,498 chunks, exact vectors) as one shard, ' +
    'its retriever run as 1, 2 or 4 replicas pinned with taskset (replica r on CPU r mod 2, on a 2-core machine), the gateway balancing ' +
    'by least outstanding calls; also HAProxy (leastconn) in front of 2 replicas, and in front of 2 gateways. Closed-loop autocannon load, rows in turn. ' +
    'Headline: QPS; scaling efficiency = QPS(n) / (n × QPS(1)); CPU ms per query of every process, for the projection to 8-64 replicas',
  sizes: {
    quick: { connections: 8, warmup: 0.5, duration: 1.5, rounds: 1, shardCounts: [] },
    full: { connections: 16, warmup: 2, duration: 8, rounds: 2, shardCounts: [2, 4] },
  },
  setup: async (size, ctx) => {
    const index = await ensureSplitIndex(undefined, ctx.log);
    ctx.log('starting the embedder and 4 replicas of one shard (replica r pinned to CPU r mod 2), then the gateways…');
    const split = await startSplit({ index, shards: 1, replicas: 4, cpus: CPUS, port: 0, supervisor: { log: () => {}, forwardStderr: false } });
    const rows: Row[] = [];
    const pool = (url: string) => new Pool(url, { connections: 4 });
    try {
      const reps = split.replicas[0];
      const urls = reps.map((r) => r.url);
      const emb = pidsOf([split.embedder]);
      const haveHaproxy = haproxyPath() !== undefined;
      // gateways start in parallel (each a process of its own)
      const [gw1, gw2, gw2b, gx] = await Promise.all([
        split.addGatewayOver('gw-1', [urls.slice(0, 1)]),
        split.addGatewayOver('gw-2', [urls.slice(0, 2)]),
        haveHaproxy ? split.addGatewayOver('gw-2b', [urls.slice(0, 2)]) : undefined,
        ctx.exercise
          ? split.addGatewayOver('gw-exercise', [urls.slice(0, 2)], { pickModule: EXERCISE_FILE }).catch((err: Error) => void ctx.log(`exercise: its gateway did not start: ${err.message}`))
          : undefined,
      ]);
      const add = (name: string, label: string, url: string, replicas: number, pids: Record<string, number[]>) => rows.push({ name, label, url, replicas, shards: 1, pids, pool: pool(url) });
      add('before', '1 replica', gw1.url, 1, { replica: pidsOf(reps.slice(0, 1)), gateway: pidsOf([gw1]), embedder: emb });
      add('after', '2 replicas (one per core)', gw2.url, 2, { replica: pidsOf(reps.slice(0, 2)), gateway: pidsOf([gw2]), embedder: emb });
      add('4 replicas', '4 replicas (two per core)', split.url, 4, { replica: pidsOf(reps), gateway: pidsOf([split.gateway]), embedder: emb });
      if (gx) add(EXERCISE, '2 replicas, your pick rule', gx.url, 2, { replica: pidsOf(reps.slice(0, 2)), gateway: pidsOf([gx]), embedder: emb });
      let haproxy: Haproxy | undefined;
      let haproxySkip: string | undefined;
      if (!haveHaproxy || !gw2b) haproxySkip = 'haproxy is not installed (apt-get install haproxy): the HAProxy rows are skipped';
      else {
        haproxy = await startHaproxy({ replicas: urls.slice(0, 2), gateways: [gw2.url, gw2b.url] });
        const gwh = await split.addGatewayOver('gw-haproxy', [[haproxy.urls.replicas]]);
        add('haproxy → 2 replicas', 'gateway → HAProxy → 2 replicas', gwh.url, 2, { replica: pidsOf(reps.slice(0, 2)), gateway: pidsOf([gwh]), haproxy: [haproxy.pid], embedder: emb });
        add('haproxy → 2 gateways', 'HAProxy → 2 gateways → 2 replicas', haproxy.urls.gateways, 2, { replica: pidsOf(reps.slice(0, 2)), gateway: pidsOf([gw2, gw2b]), haproxy: [haproxy.pid], embedder: emb });
      }
      if (haproxySkip) ctx.log(haproxySkip);
      const src = await brownPhraseSource();
      const gen = distinctPhrases(src, 11);
      const phrases = Array.from({ length: 2_000 }, () => gen.next().value as string);
      for (const r of rows) for (let i = 0; i < 10; i++) await query(r.url, r.pool, phrases[i]);
      return { size, split, haproxy, haproxySkip, rows, src, phrases, next: 0 };
    } catch (err) {
      await Promise.all(rows.map((r) => r.pool.close()));
      await split.stop();
      throw err;
    }
  },
  teardown: async (input) => {
    await Promise.all(input.rows.map((r) => r.pool.close()));
    await input.haproxy?.stop();
    await input.split.stop();
  },
  baseline: 'before',
  headline: { name: HEADLINE, unit: 'QPS', better: 'higher', metric: HEADLINE },
  variants: {
    before: (input) => oneQuery(input, 'before'),
    after: (input) => oneQuery(input, 'after'),
  },
  exercise: (input) => (input.rows.some((r) => r.name === EXERCISE) ? oneQuery(input, EXERCISE) : undefined),
  options: { iterations: 20, time: 100, warmupTime: 30 },
  extras: async (input, ctx) => {
    const { size } = input;
    const metrics: Metric[] = [];
    const load0 = `${size.connections} connections (closed loop), ${size.duration} s measured after ${size.warmup} s warm-up, ${size.rounds} round(s), distinct Brown phrases, hybrid k = 10`;
    interface Acc { qps: number[]; answers: number; bad: number; p50: number[]; p99: number[]; cpu: Record<string, number>; loadgen: number }
    const acc = new Map<string, Acc>();

    /** One closed-loop run against a row; CPU of its processes and of this process over the measured window. */
    const measure = async (r: Row) => {
      const a = acc.get(r.name) ?? { qps: [], answers: 0, bad: 0, p50: [], p99: [], cpu: {}, loadgen: 0 };
      acc.set(r.name, a);
      const snap = () => ({ procs: Object.fromEntries(Object.entries(r.pids).map(([role, ps]) => [role, ps.reduce((s, p) => s + cpuMs(p), 0)])), self: process.cpuUsage() });
      let t0: ReturnType<typeof snap> | undefined;
      const timer = setTimeout(() => (t0 = snap()), size.warmup * 1000);
      const res = await runLoad({ url: r.url, workload: 'uniform', duration: size.duration, warmup: size.warmup, connections: size.connections, src: input.src, stream: { k: 10, mode: 'hybrid', answer: false }, maxQps: 3_000 });
      clearTimeout(timer);
      const t1 = snap();
      if (t0) {
        for (const role of Object.keys(r.pids)) a.cpu[role] = (a.cpu[role] ?? 0) + (t1.procs[role] - t0.procs[role]);
        const d = process.cpuUsage(t0.self);
        a.loadgen += (d.user + d.system) / 1000;
      }
      a.answers += res.requests;
      a.qps.push(res.qps);
      a.p50.push(res.latency.p50);
      a.p99.push(res.latency.p99);
      a.bad += res.non2xx + res.errors + res.timeouts;
    };
    for (let round = 0; round < size.rounds; round++) {
      for (const r of input.rows) {
        ctx.log(`load round ${round + 1}/${size.rounds}: ${r.label} (${load0})`);
        await measure(r);
      }
    }

    // more shards, 1 replica each (full): what the fan-out and the merge cost the gateway per shard
    const shardRows: Row[] = [];
    for (const S of size.shardCounts) {
      ctx.log(`${S} shards × 1 replica (pinned in turn to CPUs ${CPUS.join(', ')}): starting…`);
      const sp = await startSplit({ index: await ensureSplitIndex(), shards: S, cpus: CPUS, port: 0, supervisor: { log: () => {}, forwardStderr: false } });
      const row: Row = { name: `${S} shards`, label: `${S} shards × 1 replica`, url: sp.url, replicas: 1, shards: S, pids: { replica: pidsOf(sp.shards), gateway: pidsOf([sp.gateway]), embedder: pidsOf([sp.embedder]) }, pool: new Pool(sp.url, { connections: 4 }) };
      try {
        for (let i = 0; i < 10; i++) await query(row.url, row.pool, input.phrases[i]);
        for (let round = 0; round < size.rounds; round++) {
          ctx.log(`load round ${round + 1}/${size.rounds}: ${row.label}`);
          await measure(row);
        }
        shardRows.push(row);
      } finally {
        await row.pool.close();
        await sp.stop();
      }
    }

    const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / Math.max(1, xs.length);
    const all = [...input.rows, ...shardRows];
    const perQuery = (name: string, role: string) => {
      const a = acc.get(name)!;
      return role === 'loadgen' ? a.loadgen / a.answers : (a.cpu[role] ?? 0) / a.answers;
    };
    const q1 = mean(acc.get('before')!.qps);
    for (const r of all) {
      const a = acc.get(r.name)!;
      const v = { variant: r.name };
      const q = mean(a.qps);
      metrics.push(
        { name: HEADLINE, value: q, unit: 'QPS', ...v, note: `${r.label}; ${a.answers} answers; rounds: ${a.qps.map((x) => x.toFixed(0)).join(', ')}; ${load0}` },
        { name: 'scaling efficiency', value: q / (r.replicas * q1), unit: '×', ...v, note: `QPS ÷ (${r.replicas} × QPS of 1 replica, ${q1.toFixed(0)})` },
        { name: 'QPS per replica', value: q / r.replicas, unit: 'QPS', ...v },
        { name: 'p50 latency under load', value: mean(a.p50), unit: 'ms', ...v },
        { name: 'p99 latency under load', value: mean(a.p99), unit: 'ms', ...v },
        { name: 'non-2xx or failed under load', value: a.bad, unit: 'requests', ...v },
      );
      for (const role of [...Object.keys(r.pids), 'loadgen']) {
        const n = role === 'replica' ? ` (all ${r.pids.replica.length} replica processes together)` : role === 'loadgen' ? ' (autocannon and the bench, this process)' : role === 'gateway' && r.pids.gateway.length > 1 ? ` (${r.pids.gateway.length} gateways together)` : '';
        metrics.push({ name: `CPU per query: ${role}`, value: perQuery(r.name, role), unit: 'ms', ...v, note: `utime + stime over the measured window ÷ answers${n}` });
      }
      const total = [...Object.keys(r.pids), 'loadgen'].reduce((s, role) => s + perQuery(r.name, role), 0);
      metrics.push({ name: 'machine bound: 2 cores ÷ CPU per query (all processes)', value: 2000 / total, unit: 'QPS', ...v, note: `every process of the row shares the 2 cores: ${total.toFixed(2)} ms of CPU per query` });
    }

    // the projection, from the per-query CPU of the 1-replica row (least contended): one core per replica
    const cR = perQuery('before', 'replica');
    const cG = perQuery('before', 'gateway');
    const cE = perQuery('before', 'embedder');
    const proj = (n: number, g: number, e: number) => Math.min((n * 1000) / cR, (g * 1000) / cG, (e * 1000) / cE);
    // HAProxy's CPU per query in front of the gateways (one thread): the front every query crosses
    const cH = acc.has('haproxy → 2 gateways') ? perQuery('haproxy → 2 gateways', 'haproxy') : undefined;
    const points: Curve['points'] = [];
    for (const n of [1, 2, 4, 8, 16, 32, 64]) {
      const lin = (n * 1000) / cR;
      const one = proj(n, 1, 1);
      metrics.push({ name: `projection: ${n} replicas, 1 gateway core + 1 embedder core`, value: one, unit: 'QPS', variant: 'projection', note: `min(n/cR, 1/cG, 1/cE) × 1000 with cR ${cR.toFixed(2)}, cG ${cG.toFixed(2)}, cE ${cE.toFixed(2)} ms; linear would be ${lin.toFixed(0)}` });
      points.push({ x: n, y: lin, series: 'replicas only (n / cR)' }, { x: n, y: one, series: '1 gateway core, 1 embedder core' });
      if (cH !== undefined) {
        const G = Math.ceil((n * cG) / cR);
        const E = Math.ceil((n * cE) / cR);
        const front = Math.min(lin, 1000 / cH);
        metrics.push({ name: `projection: ${n} replicas, gateways and embedders scaled, 1 HAProxy thread in front`, value: front, unit: 'QPS', variant: 'projection', note: `min(n/cR, 1/cH) × 1000, cH ${cH.toFixed(3)} ms; needs ${G} gateway core(s) (n·cG/cR) and ${E} embedder core(s) (n·cE/cR)` });
        points.push({ x: n, y: front, series: 'gateways + embedders scaled, 1 HAProxy thread' });
      }
    }
    for (const r of input.rows.filter((x) => x.name === 'before' || x.name === 'after' || x.name === '4 replicas')) {
      points.push({ x: r.replicas, y: mean(acc.get(r.name)!.qps), series: 'measured (2 shared cores)' });
    }
    metrics.push(
      { name: 'per-core cost: replica', value: cR, unit: 'ms', variant: 'projection', note: `CPU ms per query of one shard replica (1-replica row): ${(1000 / cR).toFixed(0)} QPS per replica core` },
      { name: 'per-core cost: gateway', value: cG, unit: 'ms', variant: 'projection', note: `CPU ms per query of the gateway (analyse, fan-out, merge, fuse, HTTP both ways): ${(1000 / cG).toFixed(0)} QPS per gateway core` },
      { name: 'per-core cost: embedder', value: cE, unit: 'ms', variant: 'projection', note: `${(1000 / cE).toFixed(0)} QPS per embedder core` },
      { name: 'replicas one gateway core keeps busy', value: cR / cG, unit: 'replicas', variant: 'projection', note: 'cR / cG: beyond this the gateway, not the replicas, is the limit (add gateways behind HAProxy)' },
    );
    if (cH !== undefined) metrics.push({ name: 'per-core cost: HAProxy (in front of the gateways)', value: cH, unit: 'ms', variant: 'projection', note: `${(1000 / cH).toFixed(0)} QPS per HAProxy thread` });
    if (shardRows.length > 0) {
      const xs = [1, ...shardRows.map((r) => r.shards)];
      const ys = [cG, ...shardRows.map((r) => perQuery(r.name, 'gateway'))];
      const mx = mean(xs);
      const my = mean(ys);
      const slope = xs.reduce((s, x, i) => s + (x - mx) * (ys[i] - my), 0) / xs.reduce((s, x) => s + (x - mx) ** 2, 0);
      metrics.push({ name: 'gateway CPU per extra shard (fan-out + merge)', value: slope, unit: 'ms', variant: 'projection', note: `least-squares slope of the gateway's CPU per query over shards ${xs.join(', ')}: ${ys.map((y) => y.toFixed(2)).join(', ')} ms` });
    }
    if (input.haproxySkip) metrics.push({ name: 'HAProxy rows', value: 0, unit: 'rows', note: input.haproxySkip });
    const curves: Curve[] = [{ id: 'scaling', title: 'QPS by replicas of one shard: measured on 2 cores, and projected from the CPU per query', xLabel: 'replicas', yLabel: 'QPS', xLog: true, points }];
    return { metrics, curves };
  },
});
