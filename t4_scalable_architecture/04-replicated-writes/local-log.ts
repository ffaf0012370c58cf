/**
 * The embedded write log of one machine, as the engine has it today (shared/serve/writes.ts + store/wal.ts +
 * cluster/): one counter numbers the writes, each is appended to the local write-ahead log (fdatasync, group
 * commit) and then handed, in version order, to every replica *in this process* (node:cluster's IPC fan-out, with
 * the replicas as objects here); a write is acknowledged once the replicas asked for applied it. A replica that was
 * down is started from its snapshot's version and replayed from the log kept here (the cluster primary's tail).
 *
 * It is correct on one machine: in order, exactly once, durable before anyone applies it. What it cannot do is in its
 * shape: the counter, the log and the fan-out live in one process tree, so a second machine, which opens its own,
 * numbers its own writes and never sees these.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { RagError } from '../../shared/errors.ts';
import { readSegments, WalWriter } from '../../shared/serve/store/wal.ts';
import type { ApplyOutcome, LogOp, WriteAck, WriteOp } from '../../shared/serve/writes.ts';
import type { ApplyFn, LogOptions, ReplicaCount, ReplicaHandle, ReplicatedLog } from './after.ts';

interface Member {
  id: string;
  applied: number;
  apply: ApplyFn;
  chain: Promise<unknown>;
  stopped: boolean;
}

interface Waiter {
  v: number;
  need: ReplicaCount;
  resolve: (ack: WriteAck) => void;
  timer: NodeJS.Timeout;
}

export async function openLocalLog(opts: LogOptions): Promise<ReplicatedLog> {
  const walDir = join(opts.dataDir, 'wal');
  mkdirSync(walDir, { recursive: true });
  // what this machine's log already holds (a restart): kept in memory for replicas that catch up
  const ops: Array<{ v: number; op: LogOp }> = readSegments(walDir).records.map((r) => ({ v: r.version, op: JSON.parse(r.payload.toString('utf8')) as LogOp }));
  let last = ops.length > 0 ? ops[ops.length - 1].v : 0;
  let durable = last;
  const wal = new WalWriter(walDir, 'group');
  const members = new Map<string, Member>();
  const outcomes = new Map<number, ApplyOutcome>();
  let waiters: Waiter[] = [];

  const opAt = (v: number) => ops[v - (ops[0]?.v ?? 1)];
  const timeoutMs = opts.timeoutMs ?? 10_000;

  const check = () => {
    waiters = waiters.filter((w) => {
      const live = [...members.values()];
      const done = live.filter((m) => m.applied >= w.v).length;
      const ok = w.need === 'all' ? done === live.length : done >= w.need;
      if (!ok) return true;
      clearTimeout(w.timer);
      w.resolve({ version: w.v, outcome: outcomes.get(w.v) ?? { ok: true, result: {} } });
      return false;
    });
  };

  /** Queues version v for one replica, after everything queued before (skipped if it already has it). */
  const deliver = (m: Member, v: number, op: LogOp) => {
    m.chain = m.chain.then(async () => {
      if (m.stopped || v <= m.applied) return;
      if (v !== m.applied + 1) throw new Error(`replica ${m.id}: version ${v} after ${m.applied}`);
      const outcome = await m.apply(v, op);
      m.applied = v;
      if (!outcomes.has(v)) outcomes.set(v, outcome);
      check();
    });
  };

  const replay = (m: Member, from: number) => {
    for (let v = Math.max(from, 1); v <= durable; v++) {
      const rec = opAt(v);
      if (rec) deliver(m, v, rec.op);
    }
  };

  const stopAll = async () => {
    for (const w of waiters) clearTimeout(w.timer);
    waiters = [];
    for (const m of members.values()) m.stopped = true;
    await Promise.allSettled([...members.values()].map((m) => m.chain));
    members.clear();
  };

  return {
    where: `the write-ahead log in ${walDir}`,
    async submit(op: WriteOp, o = {}): Promise<WriteAck> {
      const need = o.replicas ?? 'all';
      const v = ++last;
      ops.push({ v, op });
      await wal.append(v, Buffer.from(JSON.stringify(op)));
      // appends resolve in version order: the fan-out keeps it
      durable = v;
      for (const m of members.values()) deliver(m, v, op);
      if (need === 0) return { version: v, outcome: { ok: true, result: {} } };
      return new Promise((resolve, reject) => {
        const w: Waiter = {
          v,
          need,
          resolve,
          timer: setTimeout(() => {
            waiters = waiters.filter((x) => x !== w);
            reject(new RagError('UNAVAILABLE', `write ${v} is in ${walDir}, but not applied by ${need === 'all' ? 'every replica' : `${need} replica(s)`} of this process within ${timeoutMs} ms`));
          }, timeoutMs),
        };
        waiters.push(w);
        check();
      });
    },
    async startReplica(id: string, fromVersion: number, apply: ApplyFn): Promise<ReplicaHandle> {
      const m: Member = { id, applied: fromVersion, apply, chain: Promise.resolve(), stopped: false };
      members.set(id, m);
      replay(m, fromVersion + 1);
      return {
        id,
        get version() {
          return m.applied;
        },
        async resubscribe(fromSeq: number) {
          replay(m, fromSeq);
        },
        async stop() {
          m.stopped = true;
          members.delete(id);
          await m.chain.catch(() => {});
          check();
        },
      };
    },
    async close() {
      await stopAll();
      await wal.close();
    },
    async destroy() {
      await stopAll();
      await wal.close();
      rmSync(walDir, { recursive: true, force: true });
    },
  };
}
