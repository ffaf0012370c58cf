/**
 * Checkpoint for 04-replicated-writes. `npm run checkpoint -- 04-replicated-writes` runs it against exercise.ts; plain
 * `npx vitest run` checks before.ts (the local log: everything but "a replica on another machine") and after.ts.
 *
 * Needs NATS with JetStream (NATS_URL, default nats://127.0.0.1:4222); skips with the reason when it is unreachable.
 * Every test uses its own stream (a unique name) and deletes it at the end.
 *
 * A replica's engine is a ledger: documents by id, plus the list of versions it applied, in the order it finished
 * applying them. Everything is counted from it, nothing is timed: which versions each replica applied and how often,
 * in what order, whether an acknowledgement came before the replicas asked for had applied the write (a replica's
 * apply is held at a gate that the test opens), and what a replica restarted from its snapshot applied.
 * "Another machine" is a second `openLog` with its own data directory and its own NATS connection.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { implementations } from '../../shared/lab/checkpoint.ts';
import type { ApplyOutcome, LogOp, WriteOp } from '../../shared/serve/writes.ts';
import { NATS_URL, natsSkipReason } from '../../shared/services/jetstream-log.ts';
import type { ReplicatedLog } from './after.ts';

type Mod = typeof import('./after.ts');

const impls = await implementations<Mod>(import.meta.url);
const skipReason = await natsSkipReason();
if (skipReason) console.warn(`04-replicated-writes checkpoint skipped: ${skipReason}`);

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Waits until `cond()` holds, at most `ms`; returns whether it did. */
async function until(cond: () => boolean, ms = 3000): Promise<boolean> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) return false;
    await sleep(5);
  }
  return true;
}

/** Every ledger of the running test: their gates are opened at its end, so a failed test never leaves a replica stuck. */
const ledgers = new Set<Ledger>();

/** A replica's engine: documents, and the versions it applied in the order it finished them. */
class Ledger {
  docs = new Map<string, string>();
  log: number[] = [];
  /** Versions whose apply was called, in call order. */
  calls: number[] = [];
  private gate: Promise<void> | undefined;
  private openGate: (() => void) | undefined;
  /** Per-version apply time, ms (0: none). */
  delay: (v: number) => number = () => 0;

  constructor(from?: Ledger) {
    ledgers.add(this);
    if (from) {
      this.docs = new Map(from.docs);
      this.log = [...from.log];
    }
  }

  hold(): void {
    this.gate = new Promise((r) => (this.openGate = r));
  }

  release(): void {
    this.openGate?.();
    this.gate = undefined;
  }

  get version(): number {
    return this.log.length === 0 ? 0 : Math.max(...this.log);
  }

  apply = async (v: number, op: LogOp): Promise<ApplyOutcome> => {
    this.calls.push(v);
    if (this.gate) await this.gate;
    const d = this.delay(v);
    if (d > 0) await sleep(d);
    this.log.push(v);
    if (op.kind === 'ingest') for (const doc of op.docs) this.docs.set(doc.id, doc.text);
    else if (op.kind === 'delete') for (const id of op.ids) this.docs.delete(id);
    return { ok: true, result: { documents: op.kind === 'ingest' ? op.docs.length : 0 } };
  };

  /** "v applied twice", "v after w", or undefined when the log is 1…n (after `from`) exactly once, in order. */
  problem(): string | undefined {
    const seen = new Set<number>();
    for (let i = 0; i < this.log.length; i++) {
      const v = this.log[i];
      if (seen.has(v)) return `write ${v} applied twice`;
      seen.add(v);
      if (i > 0 && v < this.log[i - 1]) return `applied version ${v} after version ${this.log[i - 1]}`;
    }
    return undefined;
  }
}

const ingest = (id: string, text = `text of ${id}`): WriteOp => ({ kind: 'ingest', docs: [{ id, text }] });

let run = 0;
async function withMachines(impl: Mod, n: number, fn: (logs: ReplicatedLog[]) => Promise<void>): Promise<void> {
  const name = `t04_${process.pid}_${Date.now().toString(36)}_${run++}`;
  const logs: ReplicatedLog[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const dir = mkdtempSync(join(tmpdir(), 'rag-t4-04-'));
      dirs.push(dir);
      logs.push(await impl.openLog({ name, dataDir: dir, servers: NATS_URL, timeoutMs: 4000 }));
    }
    await fn(logs);
  } finally {
    for (const l of ledgers) l.release();
    ledgers.clear();
    for (const l of logs.slice(1)) await l.close().catch(() => {});
    await logs[0]?.destroy().catch(() => {});
  }
}

// Each implementation's tests sit in a top-level block named after it ('after', 'wrong/ack-on-publish'...), which is
// how `check:exercises` tells whose tests failed. Without NATS they are skipped (the reason is printed above).
describe.skipIf(Boolean(skipReason)).each(impls)('%s', (name, impl) => {
  it('numbers writes 1…n and every replica applies each exactly once, in version order, to the same documents', async () => {
    await withMachines(impl, 1, async ([log]) => {
      const a = new Ledger();
      const b = new Ledger();
      await log.startReplica('a', 0, a.apply);
      await log.startReplica('b', 0, b.apply);
      const versions: number[] = [];
      for (let i = 0; i < 5; i++) versions.push((await log.submit(ingest(`d${i}`))).version);
      const burst = await Promise.all([...Array(10).keys()].map((i) => log.submit(i % 3 === 2 ? { kind: 'delete', ids: [`d${i % 5}`] } : ingest(`e${i}`))));
      versions.push(...burst.map((x) => x.version));
      expect([...versions].sort((x, y) => x - y), 'versions are not 1…15, one per write').toEqual([...Array(15).keys()].map((i) => i + 1));
      for (const [id, l] of [['a', a], ['b', b]] as const) {
        expect(l.problem(), `replica ${id}: ${l.problem()}`).toBeUndefined();
        expect(l.log.length, `replica ${id} applied ${l.log.length} of 15 acknowledged writes`).toBe(15);
      }
      expect([...b.docs].sort(), 'the two replicas hold different documents').toEqual([...a.docs].sort());
      expect(burst.every((x) => x.outcome.ok), 'a write was acknowledged with a failed outcome').toBe(true);
    });
  });

  it('acknowledges a write only once the replicas asked for applied it (replicas: 0 once it is stored)', async () => {
    await withMachines(impl, 1, async ([log]) => {
      const a = new Ledger();
      const b = new Ledger();
      await log.startReplica('a', 0, a.apply);
      await log.startReplica('b', 0, b.apply);
      a.hold();
      b.hold();
      let settled = false;
      const one = log.submit(ingest('x'), { replicas: 1 }).finally(() => (settled = true));
      expect(await until(() => a.calls.includes(1) && b.calls.includes(1)), 'write 1 never reached the replicas').toBe(true);
      await sleep(200);
      expect(settled, 'acknowledged with replicas: 1 while no replica had applied it').toBe(false);
      a.release();
      expect((await one).version).toBe(1);
      expect(a.log, 'acknowledged before replica a applied it').toEqual([1]);
      // 'all': b is still held
      let allSettled = false;
      const all = log.submit(ingest('y'), { replicas: 'all' }).finally(() => (allSettled = true));
      expect(await until(() => a.log.includes(2)), 'replica a never applied write 2').toBe(true);
      await sleep(200);
      expect(allSettled, `acknowledged with replicas: 'all' while replica b had applied ${b.log.length} of 2 writes`).toBe(false);
      b.release();
      const ack = await all;
      expect(ack.version).toBe(2);
      expect(b.log, "acknowledged 'all' before replica b applied it").toEqual([1, 2]);
      // 0: stored is enough
      a.hold();
      const stored = await log.submit(ingest('z'), { replicas: 0 });
      expect(stored.version).toBe(3);
      a.release();
    });
  });

  it('a replica down for N writes restarts from its snapshot and applies exactly those N, in order', async () => {
    await withMachines(impl, 1, async ([log]) => {
      const a = new Ledger();
      let b = new Ledger();
      await log.startReplica('a', 0, a.apply);
      const hb = await log.startReplica('b', 0, b.apply);
      for (let i = 0; i < 3; i++) await log.submit(ingest(`d${i}`));
      const snapshot = new Ledger(b); // b's engine saved at version 3
      await hb.stop();
      const down = 4;
      for (let i = 3; i < 3 + down; i++) await log.submit(ingest(`d${i}`, `v2 ${i}`));
      b = new Ledger(snapshot); // restarted: its memory is its snapshot
      const restarted = await log.startReplica('b', 3, b.apply);
      const last = (await log.submit(ingest('last'))).version;
      expect(last).toBe(8);
      expect(await until(() => restarted.version >= last), `replica b reached version ${restarted.version} of ${last}`).toBe(true);
      const again = b.log.slice(3).filter((v) => v <= 3);
      expect(again, `replica b restarted from its snapshot at version 3 re-applied ${again.length} writes already in its snapshot (versions ${again.join(', ')})`).toEqual([]);
      expect(b.problem(), `replica b: ${b.problem()}`).toBeUndefined();
      expect(b.log, `replica b applied ${b.log.length - 3} writes after its snapshot, ${down + 1} expected`).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
      expect([...b.docs].sort(), 'the restarted replica holds other documents than the one that never stopped').toEqual([...a.docs].sort());
    });
  });

  it('a redelivery (reading the log again from version 1) applies nothing twice', async () => {
    await withMachines(impl, 1, async ([log]) => {
      const a = new Ledger();
      const h = await log.startReplica('a', 0, a.apply);
      for (let i = 0; i < 4; i++) await log.submit(ingest(`d${i}`));
      await h.resubscribe(1);
      const last = (await log.submit(ingest('after'))).version;
      expect(await until(() => h.version >= last && a.log.length >= 5)).toBe(true);
      await sleep(50);
      expect(a.problem(), `after resubscribing from version 1: ${a.problem()}`).toBeUndefined();
      expect(a.log).toEqual([1, 2, 3, 4, 5]);
    });
  });

  it('applies strictly in version order even when some writes take longer to apply', async () => {
    await withMachines(impl, 1, async ([log]) => {
      for (let i = 0; i < 8; i++) await log.submit(ingest(`d${i}`), { replicas: 0 });
      const a = new Ledger();
      a.delay = (v) => (v % 2 === 1 ? 15 : 0); // odd versions are slow
      const h = await log.startReplica('a', 0, a.apply);
      const last = (await log.submit(ingest('last'))).version;
      expect(await until(() => h.version >= last && a.log.length >= last)).toBe(true);
      await sleep(50);
      expect(a.problem(), `catching up 9 writes: ${a.problem()}`).toBeUndefined();
      expect(a.log).toEqual([...Array(9).keys()].map((i) => i + 1));
    });
  });

  describe.skipIf(name === 'before')('across machines', () => {
    it('a replica on another machine receives every write, and acknowledges them', async () => {
      await withMachines(impl, 2, async ([here, there]) => {
        const remote = new Ledger();
        await there.startReplica('remote', 0, remote.apply);
        for (let i = 0; i < 3; i++) await here.submit(ingest(`d${i}`), { replicas: 0 });
        await until(() => remote.log.length >= 3, 2000);
        expect(remote.log.length, `a replica on another machine applied ${remote.log.length} of 3 acknowledged writes (the writes stay in ${here.where})`).toBe(3);
        const ack = await here.submit(ingest('d3'), { replicas: 1 });
        expect(remote.log, 'acknowledged with replicas: 1 by a replica on another machine that had not applied it').toContain(ack.version);
        expect(remote.problem(), `replica on another machine: ${remote.problem()}`).toBeUndefined();
        // a writer on the other machine shares the numbering
        const theirs = await there.submit(ingest('d4'), { replicas: 1 });
        expect(theirs.version, 'the second machine numbered its write apart from the first').toBe(ack.version + 1);
      });
    });
  });
});
