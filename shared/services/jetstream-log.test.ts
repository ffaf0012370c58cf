/**
 * jetstream-log.ts against a real NATS server (NATS_URL, default nats://127.0.0.1:4222; skipped with the reason when
 * unreachable). Each test uses its own index name (stream, subjects, bucket) and deletes it at the end.
 *
 * In process: versions are the stream's sequence, replicas apply in order exactly once, acknowledgements wait for the
 * replicas asked for, a retried write id is stored once, a snapshot start skips what the snapshot holds, a
 * resubscription re-applies nothing, a gap stops the replica with a clear error, the engine's own `applyWrite` keeps
 * two engines equal. With real processes (jetstream-log-proc.ts): kill -9 of a replica process and of the writer
 * process lose no acknowledged write.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../engine.ts';
import { isRagError } from '../errors.ts';
import { Bm25Index } from '../index/bm25.ts';
import { FlatIndex } from '../index/flat.ts';
import { applyWrite, type ApplyOutcome, type LogOp, type WriteOp } from '../serve/writes.ts';
import { connectNats, deleteWriteLog, JetStreamReplica, JetStreamWritePath, logNames, NATS_URL, natsSkipReason } from './jetstream-log.ts';
import { readLedger } from './jetstream-log-proc.ts';

const skipReason = await natsSkipReason();
if (skipReason) console.warn(`jetstream-log tests skipped: ${skipReason}`);

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
async function until(cond: () => boolean, ms = 5000): Promise<boolean> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) return false;
    await sleep(5);
  }
  return true;
}

/** A replica's engine for the tests: documents and the versions applied, in order; an optional gate. */
function ledger() {
  let gate: Promise<void> | undefined;
  let open: (() => void) | undefined;
  const l = {
    docs: new Map<string, string>(),
    log: [] as number[],
    hold() {
      gate = new Promise((r) => (open = r));
    },
    release() {
      open?.();
      gate = undefined;
    },
    apply: async (v: number, op: LogOp): Promise<ApplyOutcome> => {
      if (gate) await gate;
      l.log.push(v);
      if (op.kind === 'ingest') for (const d of op.docs) l.docs.set(d.id, d.text);
      else if (op.kind === 'delete') for (const id of op.ids) l.docs.delete(id);
      return { ok: true, result: { documents: op.kind === 'ingest' ? op.docs.length : 0 } };
    },
  };
  return l;
}

const ingest = (id: string): WriteOp => ({ kind: 'ingest', docs: [{ id, text: `text of ${id}` }] });
const range = (a: number, b: number) => Array.from({ length: b - a + 1 }, (_, i) => a + i);

let nc: NatsConnection;
const indexes: string[] = [];
const children: ChildProcess[] = [];
const dirs: string[] = [];
let n = 0;
const newIndex = () => {
  const ix = `jsl_${process.pid}_${Date.now().toString(36)}_${n++}`;
  indexes.push(ix);
  return ix;
};

beforeAll(async () => {
  if (!skipReason) nc = await connectNats();
});
afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  if (nc) {
    for (const ix of indexes) await deleteWriteLog(nc, ix);
    await nc.drain();
  }
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe.skipIf(Boolean(skipReason))('JetStreamWritePath + JetStreamReplica (in process)', () => {
  it('numbers writes by stream sequence; replicas apply each once, in order; acks wait for the replicas asked for', async () => {
    const index = newIndex();
    const w = await JetStreamWritePath.open({ nc, index, timeoutMs: 4000 });
    const a = ledger();
    const b = ledger();
    const ra = await JetStreamReplica.start({ nc, index, id: 'a', fromVersion: 0, apply: a.apply });
    const rb = await JetStreamReplica.start({ nc, index, id: 'b', fromVersion: 0, apply: b.apply });
    const acks = await Promise.all(range(1, 10).map((i) => w.submit(ingest(`d${i}`))));
    expect(acks.map((x) => x.version).sort((x, y) => x - y)).toEqual(range(1, 10));
    for (const x of acks) expect(x.applied.sort(), `write ${x.version} acknowledged ('all') before both replicas applied it`).toEqual(['a', 'b']);
    expect(a.log).toEqual(range(1, 10));
    expect(b.log).toEqual(range(1, 10));
    expect(w.replicaProgress).toEqual({ a: 10, b: 10 });

    // replicas: 1 with both held: not acknowledged; released one: acknowledged by that one
    a.hold();
    b.hold();
    let settled = false;
    const one = w.submit(ingest('x'), undefined, { replicas: 1 }).finally(() => (settled = true));
    await sleep(200);
    expect(settled, 'acknowledged with replicas: 1 while no replica had applied it').toBe(false);
    b.release();
    const ackOne = await one;
    expect(ackOne.applied).toContain('b');
    expect(ackOne.outcome).toEqual({ ok: true, result: { documents: 1 } });
    // 'all' waits for a too
    let allSettled = false;
    const all = w.submit(ingest('y')).finally(() => (allSettled = true));
    await until(() => b.log.includes(12));
    await sleep(150);
    expect(allSettled, "acknowledged 'all' while replica a was held").toBe(false);
    a.release();
    expect((await all).version).toBe(12);
    expect(a.log).toEqual(range(1, 12));

    // a retried write id is stored once: same version, applied once
    const first = await w.submit(ingest('z'), undefined, { id: 'write-z' });
    const retry = await w.submit(ingest('z'), undefined, { id: 'write-z' });
    expect(retry.duplicate).toBe(true);
    expect(retry.version).toBe(first.version);
    await sleep(50);
    expect(a.log.filter((v) => v === first.version)).toHaveLength(1);
    expect(a.log.length).toBe(13);

    // a resubscription from 1 re-applies nothing (the sequence check skips 13 ops)
    await ra.resubscribe(1);
    const last = await w.submit(ingest('after'));
    expect(a.log).toEqual(range(1, last.version));
    expect(ra.stats.skipped).toBe(13);
    await ra.stop();
    await rb.stop();
    await w.close();
  });

  it('a replica starting from its snapshot applies only what came after; "all" counts only registered replicas', async () => {
    const index = newIndex();
    const w = await JetStreamWritePath.open({ nc, index, timeoutMs: 4000 });
    for (let i = 1; i <= 6; i++) await w.submit(ingest(`d${i}`), undefined, { replicas: 0 });
    // no replica registered: 'all' is the stream ack
    expect((await w.submit(ingest('d7'))).applied).toEqual([]);
    const c = ledger();
    const rc = await JetStreamReplica.start({ nc, index, id: 'c', fromVersion: 4, apply: c.apply });
    await rc.waitFor(7);
    expect(c.log, 'started from its snapshot at 4: applies 5, 6, 7 only').toEqual([5, 6, 7]);
    await rc.stop();
    expect(w.replicaProgress.c, 'a replica that stopped cleanly is still in the set').toBeUndefined();
    await w.close();
  });

  it('times out with the laggards named; a replica halted (as crashed) stays in the set until it catches up', async () => {
    const index = newIndex();
    const w = await JetStreamWritePath.open({ nc, index, timeoutMs: 300 });
    const a = ledger();
    const ra = await JetStreamReplica.start({ nc, index, id: 'a', fromVersion: 0, apply: a.apply });
    await w.submit(ingest('d1'));
    await ra.halt();
    const err = await w.submit(ingest('d2')).catch((e: unknown) => e);
    expect(isRagError(err, 'UNAVAILABLE'), String(err)).toBe(true);
    expect((err as Error).message).toMatch(/write 2 is in the stream, but not applied by every replica.*a at 1/);
    const back = await JetStreamReplica.start({ nc, index, id: 'a', fromVersion: 1, apply: a.apply });
    expect((await w.submit(ingest('d3'))).version).toBe(3);
    expect(a.log).toEqual([1, 2, 3]);
    await back.stop();
    await w.close();
  });

  it('stops with a clear error when the stream no longer holds the writes after its snapshot (a gap)', async () => {
    const index = newIndex();
    const w = await JetStreamWritePath.open({ nc, index });
    for (let i = 1; i <= 6; i++) await w.submit(ingest(`d${i}`), undefined, { replicas: 0 });
    await (await jetstreamManager(nc)).streams.purge(logNames(index).stream, { seq: 4 }); // keeps 4…6
    const a = ledger();
    let error: Error | undefined;
    const r = await JetStreamReplica.start({ nc, index, id: 'a', fromVersion: 1, apply: a.apply, onError: (e) => (error = e) });
    expect(await until(() => error !== undefined, 3000), 'no error for a replica at 1 reading a stream that starts at 4').toBe(true);
    expect(error!.message).toMatch(/jumps from version 1 to 4.*snapshot at version ≥ 3/);
    expect(a.log).toEqual([]);
    await r.stop();
    await w.close();
  });

  it("keeps two engines equal with the engine's own applyWrite (ingest, replace, delete)", async () => {
    const index = newIndex();
    const dim = 16;
    const embedder = {
      name: 'hash',
      dim,
      embed: async (texts: string[]) =>
        texts.map((t) => {
          const v = new Float32Array(dim);
          for (let i = 0; i < t.length; i++) v[t.charCodeAt(i) % dim] += 1;
          return v;
        }),
    };
    const make = () => new Engine({ llm: null }, embedder, new Bm25Index(), new FlatIndex({ dim }));
    const e1 = make();
    const e2 = make();
    const w = await JetStreamWritePath.open({ nc, index });
    const r1 = await JetStreamReplica.start({ nc, index, id: 'e1', fromVersion: 0, apply: (_v, op) => applyWrite(e1, op as WriteOp) });
    const r2 = await JetStreamReplica.start({ nc, index, id: 'e2', fromVersion: 0, apply: (_v, op) => applyWrite(e2, op as WriteOp) });
    await w.submit({ kind: 'ingest', docs: [{ id: 'a', text: 'replicated writes on a distributed log' }, { id: 'b', text: 'the stream sequence is the version' }] });
    await w.submit({ kind: 'ingest', docs: [{ id: 'a', text: 'a replaced document text' }] });
    const del = await w.submit({ kind: 'delete', ids: ['b'] });
    expect(del.outcome).toEqual({ ok: true, result: { removed: 1 } });
    const bad = await w.submit({ kind: 'ingest', docs: [{ id: '', text: '' }] });
    expect(bad.outcome.ok, 'the engine refuses an empty document on every replica').toBe(false);
    expect(e1.stats().documents).toBe(1);
    expect(e2.stats()).toEqual(e1.stats());
    expect(e1.hasDocument('a') && !e1.hasDocument('b')).toBe(true);
    await r1.stop();
    await r2.stop();
    await w.close();
  });
});

/** Spawns jetstream-log-proc.ts; collects its stdout lines. */
function proc(args: string[]): { child: ChildProcess; lines: string[]; exited: Promise<number | null> } {
  const child = spawn(process.execPath, ['--import', 'tsx', 'shared/services/jetstream-log-proc.ts', ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  const lines: string[] = [];
  let buf = '';
  child.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    const parts = buf.split('\n');
    buf = parts.pop()!;
    lines.push(...parts);
  });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return { child, lines, exited };
}

describe.skipIf(Boolean(skipReason))('kill -9 (real processes)', () => {
  it('a replica process killed with kill -9 restarts from its snapshot and ends with every acknowledged write, none twice', async () => {
    const index = newIndex();
    const dir = mkdtempSync(join(tmpdir(), 'jsl-'));
    dirs.push(dir);
    const file = join(dir, 'r2.json');
    const w = await JetStreamWritePath.open({ nc, index, timeoutMs: 8000 });
    const r1l = ledger();
    const r1 = await JetStreamReplica.start({ nc, index, id: 'r1', fromVersion: 0, apply: r1l.apply });
    let p = proc(['replica', NATS_URL, index, 'r2', file, '3']);
    expect(await until(() => p.lines.some((l) => l.startsWith('READY')), 8000), 'the replica process never started').toBe(true);
    const acked: string[] = [];
    for (let i = 0; i < 8; i++) {
      await w.submit(ingest(`k${i}`)); // 'all': r1 and the process
      acked.push(`k${i}`);
    }
    p.child.kill('SIGKILL');
    await p.exited;
    for (let i = 8; i < 16; i++) {
      await w.submit(ingest(`k${i}`), undefined, { replicas: 1 }); // the killed replica is still registered: 'all' would wait
      acked.push(`k${i}`);
    }
    const snap = readLedger(file);
    expect(snap.version, 'no snapshot before the kill').toBeGreaterThan(0);
    p = proc(['replica', NATS_URL, index, 'r2', file, '3']);
    expect(await until(() => p.lines.some((l) => l.startsWith('READY')), 8000)).toBe(true);
    await w.submit(ingest('k16')); // 'all': resolves once the restarted process caught up
    acked.push('k16');
    p.child.kill('SIGTERM');
    expect(await p.exited).toBe(0);
    const end = readLedger(file);
    const docs = new Map(end.docs);
    const lost = acked.filter((id) => !docs.has(id));
    expect(lost, `acknowledged writes lost by the killed replica: ${lost.join(', ')}`).toEqual([]);
    expect(end.applied, `restarted from its snapshot at ${snap.version}: applied in order, each once`).toEqual(range(1, 17));
    expect([...docs].sort()).toEqual([...r1l.docs].sort());
    await r1.stop();
    await w.close();
  });

  it('a writer process killed with kill -9 loses no acknowledged write; the next writer continues the numbering', async () => {
    const index = newIndex();
    const r1l = ledger();
    const r1 = await JetStreamReplica.start({ nc, index, id: 'r1', fromVersion: 0, apply: r1l.apply });
    const p = proc(['writer', NATS_URL, index, '500', 'w', '1']);
    expect(await until(() => p.lines.length >= 20, 8000), 'the writer process acknowledged fewer than 20 writes').toBe(true);
    p.child.kill('SIGKILL');
    await p.exited;
    const acked = p.lines.filter((l) => l.startsWith('ACK ')).map((l) => ({ id: l.split(' ')[1], version: Number(l.split(' ')[2]) }));
    expect(acked.length).toBeGreaterThanOrEqual(20);
    const lost = acked.filter((a) => !r1l.docs.has(a.id));
    expect(lost.map((a) => a.id), 'acknowledged writes the replica does not have').toEqual([]);
    // what the stream holds: the acknowledged writes, maybe one more published just before the kill, nothing twice
    const w = await JetStreamWritePath.open({ nc, index });
    const next = await w.submit(ingest('after-crash'));
    expect(next.version).toBeGreaterThan(acked[acked.length - 1].version);
    expect(r1l.log, 'the replica applied every stored write once, in order').toEqual(range(1, next.version));
    // a new replica from version 0 rebuilds the same documents from the stream alone
    const fresh = ledger();
    const rf = await JetStreamReplica.start({ nc, index, id: 'fresh', fromVersion: 0, apply: fresh.apply });
    await rf.waitFor(next.version);
    expect([...fresh.docs].sort()).toEqual([...r1l.docs].sort());
    await rf.stop();
    await r1.stop();
    await w.close();
  });
});
