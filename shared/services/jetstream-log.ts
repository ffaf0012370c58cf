/**
 * Replicated writes on an existing distributed log: NATS JetStream. The stream numbers the writes, keeps them (file
 * storage; replicated too when JetStream runs as a cluster) and hands them to every replica, on any machine that can
 * reach the NATS server. Today's single-machine path (writes.ts: Sequencer + write-ahead log + node:cluster IPC
 * fan-out) stays the embedded default; this is the path for replicas that do not share a process tree.
 *
 *   writer ──publish op (Nats-Msg-Id)──▶ stream RAG_<index>  subject rag.<index>.writes   ◀── the stream seq is the version
 *   replica (any machine): ordered consumer from seq = its snapshot's version + 1 ──▶ apply in order ──▶ report
 *   report: core NATS `rag.<index>.applied` {replica, seq, outcome}  +  KV bucket RAG_<index>_replicas: key = replica,
 *           value = the highest seq it applied (membership and progress, kept when the writer was not listening)
 *   writer: stream ack (the write is durable in the stream) ──▶ waits until the replicas it asked for applied it
 *
 * **The version is the stream sequence.** The stream holds only this index's writes, so sequences are dense: a
 * replica that applied v has applied 1…v. A replica is (snapshot at version s) + (stream from s + 1): it reads the
 * stream with an *ordered* consumer starting at s + 1, not with a durable consumer, because its position is where
 * its engine is, and that is its snapshot after a restart, not wherever a durable consumer acknowledged last (a
 * durable consumer resumes at its ack floor: a replica restarted from an older snapshot would skip the writes in
 * between). Ordered consumers deliver in order and recreate themselves at the right sequence after a gap.
 *
 * **Idempotency, twice.** (1) A sequence check on the replica: a delivered op at or below what it applied is skipped
 * (a resubscription, a redelivery), one above it + 1 is a gap (the stream no longer holds writes the replica needs:
 * it stops with an error naming the snapshot it needs). (2) A message id on the publish (`Nats-Msg-Id`, the write's
 * id): a writer that retries a publish whose ack it never saw gets the first copy's sequence back (`duplicate`), not
 * a second copy, within the stream's duplicate window (2 minutes here).
 *
 * **Acknowledgement.** `submit(op, seen, { replicas })`: 0 = once the stream has it (stored: it survives the writer
 * and every replica; no replica's outcome yet); n = once n replicas applied it; 'all' = once every replica registered
 * in the KV bucket applied it (a replica registers when it starts and deregisters when it stops cleanly; one killed
 * keeps its key, so 'all' waits for it to come back and catch up, or times out with an error naming the laggard:
 * synchronous replication to every member). The outcome is the first replica's (every replica validates the same
 * way, as in writes.ts). Progress is read from both channels: the core message is fast and carries the outcome; the
 * KV value is what a writer that was not listening (started later, or reconnected) learns from.
 *
 * Not here (writes.ts's Sequencer does them on one machine): a delete of an unknown id and an ingest of unchanged
 * documents still get a version; `seen` (Presence) is accepted and ignored. Reloads (LogOp 'reload') travel like
 * any op; applying them is the replica's business.
 */
import { randomUUID } from 'node:crypto';
import { DeliverPolicy, jetstream, jetstreamManager, type ConsumerMessages, type JetStreamClient } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import { connect, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { RagError } from '../errors.ts';
import type { ApplyOutcome, LogOp, Presence, WriteAck, WritePath } from '../serve/writes.ts';

export const NATS_URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';

/** Why tests and benches that need NATS with JetStream must skip, or undefined when it answers. */
export async function natsSkipReason(servers = NATS_URL): Promise<string | undefined> {
  let nc: NatsConnection | undefined;
  try {
    nc = await connect({ servers, timeout: 1500, reconnect: false });
    await (await jetstreamManager(nc, { timeout: 1500 })).getAccountInfo();
    return undefined;
  } catch (err) {
    return `NATS with JetStream unreachable at ${servers} (${(err as Error).message}): start nats-server -js, or set NATS_URL`;
  } finally {
    await nc?.close().catch(() => {});
  }
}

export function connectNats(servers = NATS_URL): Promise<NatsConnection> {
  return connect({ servers, timeout: 3000 });
}

/** Names of one index's write log: the stream, its subject, the progress subject and the replicas' KV bucket. */
export interface LogNames {
  stream: string;
  subject: string;
  applied: string;
  bucket: string;
}

export function logNames(index: string): LogNames {
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(index)) throw new RagError('INVALID_INPUT', `index name "${index}": use 1-64 of A-Z a-z 0-9 _ -`);
  return { stream: `RAG_${index}`, subject: `rag.${index}.writes`, applied: `rag.${index}.applied`, bucket: `RAG_${index}_replicas` };
}

/** Creates the index's stream (file storage, 2-minute duplicate window) and replicas bucket if absent. */
export async function ensureWriteLog(nc: NatsConnection, index: string): Promise<LogNames> {
  const names = logNames(index);
  const jsm = await jetstreamManager(nc);
  try {
    await jsm.streams.info(names.stream);
  } catch {
    try {
      await jsm.streams.add({ name: names.stream, subjects: [names.subject], storage: 'file' as never, duplicate_window: 120_000_000_000 });
    } catch (err) {
      // created meanwhile by another writer or replica: fine
      await jsm.streams.info(names.stream).catch(() => {
        throw err;
      });
    }
  }
  await new Kvm(nc).create(names.bucket, { history: 1 });
  return names;
}

/** Deletes the index's stream and replicas bucket (tests and benches: unique names per run, deleted at the end). */
export async function deleteWriteLog(nc: NatsConnection, index: string): Promise<void> {
  const names = logNames(index);
  const jsm = await jetstreamManager(nc);
  await jsm.streams.delete(names.stream).catch(() => false);
  await jsm.streams.delete(`KV_${names.bucket}`).catch(() => false);
}

/** Applies one op to the replica's engine (writes.ts `applyWrite`, or Replica.applySequenced). */
export type ApplyFn = (version: number, op: LogOp) => Promise<ApplyOutcome>;

/** How many replicas must have applied a write before it is acknowledged. */
export type ReplicaCount = number | 'all';

export interface ReplicatedAck extends WriteAck {
  /** The replicas known to have applied it when it was acknowledged. */
  applied: string[];
  /** The stream already held this write id (a retried publish): `version` is the first copy's. */
  duplicate: boolean;
}

export interface SubmitOptions {
  /** Default: the writer's `replicas`. */
  replicas?: ReplicaCount;
  /** The write's id (Nats-Msg-Id): a retry with the same id is stored once. Default: a random UUID. */
  id?: string;
}

interface Progress {
  seq: number;
  /** KV revision of the latest membership entry seen (a delete with a higher revision ends membership). */
  rev: number;
  member: boolean;
}

interface Waiter {
  seq: number;
  need: ReplicaCount;
  resolve: (r: { applied: string[]; outcome?: ApplyOutcome }) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

const OUTCOMES_KEPT = 4096;

/** What the writer knows of the replicas: who is registered, what each applied, and recent outcomes. */
class ProgressTracker {
  readonly replicas = new Map<string, Progress>();
  private readonly outcomes = new Map<number, ApplyOutcome>();
  private waiters: Waiter[] = [];

  seen(id: string, seq: number, outcome?: ApplyOutcome): void {
    const p = this.replicas.get(id) ?? { seq: 0, rev: 0, member: true };
    if (seq > p.seq) p.seq = seq;
    this.replicas.set(id, p);
    if (outcome && !this.outcomes.has(seq)) {
      this.outcomes.set(seq, outcome);
      if (this.outcomes.size > OUTCOMES_KEPT) this.outcomes.delete(this.outcomes.keys().next().value as number);
    }
    this.check();
  }

  kv(id: string, rev: number, seq: number | undefined): void {
    const p = this.replicas.get(id) ?? { seq: 0, rev: 0, member: true };
    if (rev < p.rev) return;
    p.rev = rev;
    if (seq === undefined) p.member = false;
    else {
      p.member = true;
      if (seq > p.seq) p.seq = seq;
    }
    this.replicas.set(id, p);
    this.check();
  }

  /** The replicas that applied `seq`, if enough of them did. */
  private satisfied(seq: number, need: ReplicaCount): string[] | undefined {
    const done: string[] = [];
    let members = 0;
    for (const [id, p] of this.replicas) {
      if (p.member) members++;
      if (p.seq >= seq) done.push(id);
    }
    if (need === 'all') {
      for (const [, p] of this.replicas) if (p.member && p.seq < seq) return undefined;
      return members === 0 && done.length === 0 ? [] : done;
    }
    return done.length >= need ? done : undefined;
  }

  wait(seq: number, need: ReplicaCount, timeoutMs: number): Promise<{ applied: string[]; outcome?: ApplyOutcome }> {
    const now = this.satisfied(seq, need);
    if (now) return Promise.resolve({ applied: now, outcome: this.outcomes.get(seq) });
    return new Promise((resolve, reject) => {
      const w: Waiter = {
        seq,
        need,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.waiters = this.waiters.filter((x) => x !== w);
          const state = [...this.replicas].map(([id, p]) => `${id} at ${p.seq}${p.member ? '' : ' (left)'}`).join(', ') || 'none registered';
          reject(new RagError('UNAVAILABLE', `write ${seq} is in the stream, but not applied by ${need === 'all' ? 'every replica' : `${need} replica(s)`} within ${timeoutMs} ms (replicas: ${state})`));
        }, timeoutMs),
      };
      this.waiters.push(w);
    });
  }

  private check(): void {
    if (this.waiters.length === 0) return;
    this.waiters = this.waiters.filter((w) => {
      const done = this.satisfied(w.seq, w.need);
      if (!done) return true;
      clearTimeout(w.timer);
      w.resolve({ applied: done, outcome: this.outcomes.get(w.seq) });
      return false;
    });
  }

  close(err: Error): void {
    for (const w of this.waiters) {
      clearTimeout(w.timer);
      w.reject(err);
    }
    this.waiters = [];
  }
}

export interface WritePathOptions {
  nc: NatsConnection;
  index: string;
  /** Replicas that must apply a write before it is acknowledged, unless submit says otherwise. Default 'all'. */
  replicas?: ReplicaCount;
  /** How long a submit waits for the stream and then for the replicas. Default 10 s. */
  timeoutMs?: number;
}

/** The writer: publishes each op to the index's stream and acknowledges it once the asked replicas applied it. */
export class JetStreamWritePath implements WritePath {
  private readonly tracker = new ProgressTracker();
  private closed = false;

  private constructor(
    private readonly js: JetStreamClient,
    private readonly names: LogNames,
    private readonly sub: Subscription,
    private readonly watch: AsyncIterable<unknown> & { stop(): void },
    private readonly replicas: ReplicaCount,
    private readonly timeoutMs: number,
  ) {}

  static async open(opts: WritePathOptions): Promise<JetStreamWritePath> {
    const { nc } = opts;
    const names = await ensureWriteLog(nc, opts.index);
    const kv = await new Kvm(nc).open(names.bucket);
    const sub = nc.subscribe(names.applied);
    const watch = await kv.watch();
    const path = new JetStreamWritePath(jetstream(nc), names, sub, watch, opts.replicas ?? 'all', opts.timeoutMs ?? 10_000);
    void (async () => {
      for await (const m of sub) {
        try {
          const r = m.json<{ replica: string; seq: number; outcome?: ApplyOutcome }>();
          path.tracker.seen(r.replica, r.seq, r.outcome);
        } catch {
          /* not ours */
        }
      }
    })();
    void (async () => {
      for await (const e of watch) path.onKv(e as KvEntryLike);
    })().catch(() => {});
    // the registered replicas before the first submit (the watch delivers them too, maybe later)
    await loadMembers(kv, (e) => path.onKv(e));
    return path;
  }

  private onKv(e: KvEntryLike): void {
    this.tracker.kv(e.key, e.revision, e.operation === 'PUT' ? Number(e.string()) : undefined);
  }

  /** Registered replicas and the highest version each applied, as this writer knows them. */
  get replicaProgress(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [id, p] of this.tracker.replicas) if (p.member) out[id] = p.seq;
    return out;
  }

  async submit(op: LogOp, _seen?: Presence, opts: SubmitOptions = {}): Promise<ReplicatedAck> {
    if (this.closed) throw new RagError('UNAVAILABLE', 'the write path is closed');
    const need = opts.replicas ?? this.replicas;
    if (need !== 'all' && !(Number.isInteger(need) && need >= 0)) throw new RagError('INVALID_INPUT', `replicas: ${need} (a count ≥ 0 or 'all')`);
    const ack = await this.js.publish(this.names.subject, JSON.stringify(op), { msgID: opts.id ?? randomUUID(), timeout: this.timeoutMs });
    if (need === 0) return { version: ack.seq, outcome: { ok: true, result: {} }, applied: [], duplicate: ack.duplicate };
    const r = await this.tracker.wait(ack.seq, need, this.timeoutMs);
    // satisfied through the KV value alone (the core message was missed): applied, outcome not heard
    return { version: ack.seq, outcome: r.outcome ?? { ok: true, result: {} }, applied: r.applied, duplicate: ack.duplicate };
  }

  async close(): Promise<void> {
    this.closed = true;
    this.tracker.close(new RagError('UNAVAILABLE', 'the write path was closed while waiting for replicas'));
    this.sub.unsubscribe();
    this.watch.stop();
  }
}

interface KvEntryLike {
  key: string;
  revision: number;
  operation: string;
  string(): string;
}

async function loadMembers(kv: KV, on: (e: KvEntryLike) => void): Promise<void> {
  const keys: string[] = [];
  for await (const k of await kv.keys()) keys.push(k);
  for (const k of keys) {
    const e = await kv.get(k);
    if (e) on(e);
  }
}

export interface ReplicaOptions {
  nc: NatsConnection;
  index: string;
  /** This replica's name (unique among the index's replicas; the KV key). */
  id: string;
  /** The version its engine is at when it starts: its snapshot's (0: an empty engine). Reads from fromVersion + 1. */
  fromVersion: number;
  apply: ApplyFn;
  /** Called when the replica stops on its own: a gap in the stream, or an apply that threw. */
  onError?: (err: Error) => void;
}

/**
 * One replica: reads the index's stream from its snapshot's version + 1 and applies every op in order, exactly once
 * (a sequence check skips what it already applied), reporting each applied version.
 */
export class JetStreamReplica {
  private applied: number;
  private messages: ConsumerMessages | undefined;
  private loop: Promise<void> = Promise.resolve();
  private kv!: KV;
  private reporting = false;
  private reportAgain = false;
  private reportDone: Promise<void> = Promise.resolve();
  private readonly names: LogNames;
  private readonly waiters: Array<{ v: number; resolve: () => void }> = [];
  private stopped = false;
  /** Ops applied, and duplicates skipped by the sequence check (tests and the lesson count them). */
  readonly stats = { applied: 0, skipped: 0 };
  error: Error | undefined;

  private constructor(private readonly opts: ReplicaOptions) {
    this.applied = opts.fromVersion;
    this.names = logNames(opts.index);
  }

  static async start(opts: ReplicaOptions): Promise<JetStreamReplica> {
    if (!(Number.isInteger(opts.fromVersion) && opts.fromVersion >= 0)) throw new RagError('INVALID_INPUT', `fromVersion ${opts.fromVersion}`);
    const r = new JetStreamReplica(opts);
    await ensureWriteLog(opts.nc, opts.index);
    r.kv = await new Kvm(opts.nc).open(r.names.bucket);
    // registered before it reads: a writer asking 'all' waits for it from now on
    await r.kv.put(opts.id, String(r.applied));
    await r.subscribe(r.applied + 1);
    return r;
  }

  /** The highest version applied. */
  get version(): number {
    return this.applied;
  }

  get id(): string {
    return this.opts.id;
  }

  /** Resolves once `v` is applied. */
  waitFor(v: number): Promise<void> {
    if (this.applied >= v) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ v, resolve }));
  }

  /**
   * Reads the stream again from `fromSeq` (a reconnect, a redelivery): what was applied already is skipped by the
   * sequence check, the rest is applied in order.
   */
  async resubscribe(fromSeq: number): Promise<void> {
    await this.unsubscribe();
    await this.subscribe(Math.max(1, fromSeq));
  }

  /** Stops reading (after the apply in progress) and leaves the replica set (a writer asking 'all' no longer waits for it). */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.unsubscribe();
    await this.reportDone;
    await this.kv.delete(this.opts.id).catch(() => {});
  }

  /** Stops reading but stays registered, as a crash would (tests): 'all' waits for it until it is back. */
  async halt(): Promise<void> {
    this.stopped = true;
    await this.unsubscribe();
    await this.reportDone;
  }

  private async unsubscribe(): Promise<void> {
    const m = this.messages;
    this.messages = undefined;
    await m?.close();
    await this.loop;
  }

  private async subscribe(fromSeq: number): Promise<void> {
    const js = jetstream(this.opts.nc);
    const consumer = await js.consumers.get(this.names.stream, { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: fromSeq, filter_subjects: this.names.subject });
    const messages = await consumer.consume({ max_messages: 256 });
    this.messages = messages;
    this.loop = (async () => {
      for await (const m of messages) {
        if (this.messages !== messages) break;
        const seq = m.seq;
        if (seq <= this.applied) {
          this.stats.skipped++;
          continue;
        }
        if (seq !== this.applied + 1) {
          throw new RagError(
            'CORRUPT',
            `replica ${this.opts.id}: the stream jumps from version ${this.applied} to ${seq} (it no longer holds the writes in between): restore a snapshot at version ≥ ${seq - 1}`,
          );
        }
        const op = m.json<LogOp>();
        const outcome = await this.opts.apply(seq, op);
        this.applied = seq;
        this.stats.applied++;
        this.report(seq, outcome);
      }
    })().catch((err: Error) => {
      this.error = err;
      void messages.close();
      if (!this.stopped) this.opts.onError?.(err);
    });
  }

  private report(seq: number, outcome: ApplyOutcome): void {
    this.opts.nc.publish(this.names.applied, JSON.stringify({ replica: this.opts.id, seq, outcome }));
    for (let i = this.waiters.length - 1; i >= 0; i--) {
      if (this.waiters[i].v <= seq) this.waiters.splice(i, 1)[0].resolve();
    }
    // the KV value, one put at a time, always the latest version (a writer that was not listening reads it)
    if (this.reporting) {
      this.reportAgain = true;
      return;
    }
    this.reporting = true;
    this.reportDone = (async () => {
      do {
        this.reportAgain = false;
        await this.kv.put(this.opts.id, String(this.applied)).catch(() => {});
      } while (this.reportAgain);
      this.reporting = false;
    })();
  }
}
