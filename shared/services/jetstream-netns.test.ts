/**
 * The replicated write log (jetstream-log.ts) across hosts: replica B runs as a process on another "machine", a
 * network namespace with one veth link to this one (netns.ts), and the test cuts that link.
 *
 *   this machine: private nats-server -js on the link's address (10.231.x.y, random port, temp store dir)
 *                 writer (JetStreamWritePath) + replica A (JetStreamReplica), in this process
 *   host-b:       replica B = jetstream-log-proc.ts under `ip netns exec`, a ledger snapshotted to a file every 3 versions
 *
 * It shows: 'all' writes are applied on both; with B's link cut, replicas: 1 writes are still acknowledged (A applied
 * them) and an 'all' write times out with UNAVAILABLE naming B as the laggard; after the heal B catches up from where
 * it was (every acknowledged write, in order, none twice); B killed with kill -9 while cut and restarted in its
 * namespace from its snapshot after the heal catches up too. Only this machine's link address and the namespace are
 * ever reached; the shared NATS server (127.0.0.1:4222) is not touched. Skipped with the reason without root /
 * network namespaces or without nats-server (NATS_SERVER_BIN, default /usr/sbin/nats-server, then PATH).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isRagError } from '../errors.ts';
import type { ApplyOutcome, LogOp, WriteOp } from '../serve/writes.ts';
import { connectNats, JetStreamReplica, JetStreamWritePath } from './jetstream-log.ts';
import { readLedger } from './jetstream-log-proc.ts';
import { createHost, destroyAllHosts, hostsLeft, netnsSkipReason, type TestHost } from './netns.ts';
import { NATS_MISSING, natsServerBin, startPrivateNats, type PrivateNats } from './private-nats.ts';

const bin = natsServerBin();
const skipReason = (await netnsSkipReason()) ?? (bin ? undefined : NATS_MISSING);
if (skipReason) console.warn(`jetstream-netns tests skipped: ${skipReason}`);

const CUT_MS = Number(process.env.NETNS_CUT_MS ?? 2000);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
async function until(cond: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) return false;
    await sleep(5);
  }
  return true;
}
const range = (a: number, b: number) => Array.from({ length: b - a + 1 }, (_, i) => a + i);
const ingest = (id: string): WriteOp => ({ kind: 'ingest', docs: [{ id, text: `text of ${id}` }] });

/** B's TCP connections to the server, seen from host-b (`ss`; diagnostics only: which connection carried the catch-up). */
function connectionsOnB(): string {
  const [cmd, ...args] = host.execArgs(['ss', '-Htn', 'state', 'established']);
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim().split('\n').map((l) => l.trim().split(/\s+/).slice(-2).join(' -> ')).sort().join(', ') : `(ss: ${r.stderr.trim()})`;
}

let host: TestHost;
let nats: PrivateNats | undefined;
let servers = '';
let nc: NatsConnection | undefined;
let dir = '';
const children: ChildProcess[] = [];


/** Replica B: jetstream-log-proc.ts in host-b's namespace. Collects stdout lines; stderr is kept for messages. */
function replicaB(file: string): { child: ChildProcess; lines: string[]; err: () => string; exited: Promise<number | null> } {
  const [cmd, ...args] = host.execArgs([process.execPath, '--import', 'tsx', 'shared/services/jetstream-log-proc.ts', 'replica', servers, 'netns', 'b', file, '3']);
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  const lines: string[] = [];
  let buf = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    const parts = buf.split('\n');
    buf = parts.pop()!;
    lines.push(...parts);
  });
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return { child, lines, err: () => err, exited };
}

beforeAll(async () => {
  if (skipReason) return;
  dir = mkdtempSync(join(tmpdir(), 'jsnetns-'));
  host = await createHost('host-b');
  nats = await startPrivateNats(bin!, host.hostIp, join(dir, 'js'));
  servers = nats.url;
  nc = await connectNats(servers);
});

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await nc?.close().catch(() => {});
  await nats?.stop();
  await destroyAllHosts();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(Boolean(skipReason))('replicated write log across hosts (network namespace, cut link)', () => {
  it('acks with 1 replica through a cut, names B when "all" times out, and B catches up after the heal and after kill -9', { timeout: 40_000 + CUT_MS }, async () => {
    const index = 'netns';
    const file = join(dir, 'b.json');
    // writer and replica A on this machine
    const w = await JetStreamWritePath.open({ nc: nc!, index, timeoutMs: 15_000 });
    const wShort = await JetStreamWritePath.open({ nc: nc!, index, timeoutMs: 1500 }); // for the 'all' that must time out
    const a = { docs: new Map<string, string>(), log: [] as number[] };
    const applyA = async (v: number, op: LogOp): Promise<ApplyOutcome> => {
      a.log.push(v);
      if (op.kind === 'ingest') for (const d of op.docs) a.docs.set(d.id, d.text);
      return { ok: true, result: {} };
    };
    const ra = await JetStreamReplica.start({ nc: nc!, index, id: 'a', fromVersion: 0, apply: applyA });
    // replica B on host-b
    let b = replicaB(file);
    expect(await until(() => b.lines.some((l) => l.startsWith('READY')), 15_000), `replica B never started on ${host.ns}: ${b.err()}`).toBe(true);

    const acked: string[] = [];
    let n = 0;
    const write = async (replicas: 1 | 'all') => {
      const id = `d${++n}`;
      const ack = await w.submit(ingest(id), undefined, { replicas });
      acked.push(id);
      return ack;
    };

    // 1. link up: 'all' means A and B
    for (let i = 0; i < 5; i++) expect((await write('all')).applied.sort(), "an 'all' write not applied by both A and B").toEqual(['a', 'b']);
    expect(w.replicaProgress).toEqual({ a: 5, b: 5 });

    // 2. cut B's link: replicas: 1 is acknowledged (A), 'all' times out naming B
    const connBefore = connectionsOnB();
    await host.cut();
    const cutAt = performance.now();
    for (let i = 0; i < 5; i++) {
      const ack = await write(1);
      expect(ack.applied, `write ${ack.version} applied by B over a cut link`).toEqual(['a']);
    }
    const err = await wShort.submit(ingest('all-while-cut')).catch((e: unknown) => e);
    expect(isRagError(err, 'UNAVAILABLE'), `an 'all' write with B cut off did not fail with UNAVAILABLE: ${String(err)}`).toBe(true);
    expect((err as Error).message).toMatch(/write 11 is in the stream, but not applied by every replica within 1500 ms \(replicas: .*b at 5/);
    console.log(`[netns] 'all' with B cut off: ${(err as Error).message}`);
    // stored all the same (the stream ack came): B must apply it once it is back; it was never acknowledged
    await ra.waitFor(11);

    // the cut lasts CUT_MS in all (NETNS_CUT_MS, default 2000): how long B is away
    await sleep(CUT_MS - (performance.now() - cutAt));
    const cutMs = performance.now() - cutAt;

    // 3. heal: B catches up from its position, 5 (6…11)
    const healedAt = performance.now();
    await host.heal();
    let firstMs = -1;
    const caughtUp = await until(() => {
      if (firstMs < 0 && (w.replicaProgress.b ?? 0) > 5) firstMs = performance.now() - healedAt;
      return (w.replicaProgress.b ?? 0) >= 11;
    }, 20_000);
    const catchUpMs = performance.now() - healedAt;
    expect(caughtUp, `B did not catch up within 20 s of the heal (at ${w.replicaProgress.b}): ${b.err()}`).toBe(true);
    const connAfter = connectionsOnB();
    console.log(`[netns] B's connection ${connAfter === connBefore ? 'unchanged' : 'changed'} across the cut: ${connBefore} / ${connAfter}`);
    console.log(`[netns] link cut for ${cutMs.toFixed(0)} ms; after the heal B applied its first missed write at ${firstMs.toFixed(0)} ms and all 6 (6…11) at ${catchUpMs.toFixed(0)} ms`);
    expect((await write('all')).applied.sort()).toEqual(['a', 'b']); // 12

    // 4. cut again, kill -9 B while cut, write on, heal, restart B in its namespace from its snapshot
    await host.cut();
    b.child.kill('SIGKILL');
    await b.exited;
    for (let i = 0; i < 6; i++) await write(1); // 13…18
    const snap = readLedger(file);
    expect(snap.version, 'B wrote no snapshot before the kill').toBeGreaterThan(0);
    expect(snap.applied).toEqual(range(1, snap.version));
    await host.heal();
    const restartAt = performance.now();
    b = replicaB(file);
    expect(await until(() => b.lines.some((l) => l.startsWith('READY')), 15_000), `replica B never restarted: ${b.err()}`).toBe(true);
    expect(b.lines.find((l) => l.startsWith('READY')), 'B did not restart from its snapshot').toBe(`READY ${snap.version}`);
    const last = await w.submit(ingest('final'), undefined, { replicas: 'all' }); // waits for B's catch-up
    acked.push('final');
    const restartMs = performance.now() - restartAt;
    expect(last.version).toBe(19);
    expect(last.applied.sort()).toEqual(['a', 'b']);
    console.log(`[netns] kill -9 while cut: B restarted from snapshot ${snap.version}, caught up ${19 - snap.version} writes, ${restartMs.toFixed(0)} ms from start to applied 19`);

    b.child.kill('SIGTERM');
    expect(await b.exited, `B did not exit cleanly: ${b.err()}`).toBe(0);
    const end = readLedger(file);
    const docs = new Map(end.docs);
    const lost = acked.filter((id) => !docs.has(id));
    expect(lost, `acknowledged writes B does not have: ${lost.join(', ')}`).toEqual([]);
    expect(end.applied, `B (restarted from ${snap.version}) applied every stored write in order, each once`).toEqual(range(1, 19));
    expect(a.log).toEqual(range(1, 19));
    expect([...docs].sort()).toEqual([...a.docs].sort());

    await ra.stop();
    await w.close();
    await wShort.close();
  });
});
