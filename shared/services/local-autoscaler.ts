/**
 * A local autoscaler: the HPA's rule (or any scaler) starting and stopping real replica processes of a retriever
 * shard on this machine, under real load (t4 lesson 13).
 *
 *     const replicas = shardReplicaStarter({ index });                  // shard-service.ts processes, one supervisor each
 *     const auto = new LocalAutoscaler({ start: replicas.start, scaler, syncMs: 1000, initial: 1 });
 *     await auto.init();                                                // the initial replicas, ready
 *     auto.run();                                                       // a sync every syncMs
 *     await auto.pool.call('search', req);                              // least outstanding over the serving replicas
 *     await auto.stop();                                                // every replica stopped
 *
 * - **The metric** is each replica's QPS over the last sync (answers it gave ÷ seconds): what
 *   `rag_gateway_requests_per_second` is to the HPA, counted here in the client that balances over the replicas
 *   (`ElasticPool`), as the gateway would count it.
 * - **Scale-up is gated on readiness.** A new replica is a process that loads the index; the supervisor resolves its
 *   start only once `GET /readyz` answers 200, and only then does the pool send it calls. Meanwhile the scaler sees
 *   it as a pod that is not ready (`{ ready: false }`).
 * - **Scale-down drains before it stops.** The replica to remove (one still starting first, else the newest) leaves
 *   the pool's picks at once, the calls it has in flight are answered, and only then is it sent SIGTERM. No call is
 *   lost to a scale-down.
 * - **Replica-seconds** are counted from each process's fork to its exit: starting and draining replicas cost too.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { PodMetric } from './autoscale.ts';
import { httpRpcClient } from './http-rpc.ts';
import { RpcError, type CallOptions, type RpcClient } from './rpc.ts';
import { Supervisor } from './supervisor.ts';
import { mulberry32 } from '../util/random.ts';

/** A running replica. */
export interface Replica {
  id: string;
  url: string;
  client: RpcClient;
  /** SIGTERM (SIGKILL after a grace), resolves once the process is gone. */
  stop(): Promise<void>;
}

/** Starts one replica; resolves once it is ready (its /readyz answers 200). */
export type StartReplica = (id: string) => Promise<Replica>;

export interface ShardReplicaOptions {
  /** A saved index with exact vectors (cli-up.ts `ensureSplitIndex`). */
  index: string;
  /** The service credential; default 32 random bytes (one for every replica). */
  secret?: string;
  log?: (line: string) => void;
  /** Pin replica i to cpus[i mod cpus.length] (a taskset list each); default not pinned. */
  cpus?: string[];
}

/** Replicas of shard 0 of 1 (the whole index) as shard-service.ts processes, each under a supervisor of its own. */
export function shardReplicaStarter(o: ShardReplicaOptions): { start: StartReplica; secret: string } {
  const log = o.log ?? (() => {});
  const secret = o.secret ?? randomBytes(32).toString('hex');
  let n = 0;
  const start: StartReplica = async (id) => {
    const sup = new Supervisor({ secret, log, forwardStderr: false, stopGraceMs: 2_000 });
    const cpus = o.cpus && o.cpus.length > 0 ? o.cpus[n++ % o.cpus.length] : undefined;
    try {
      const svc = await sup.start({ name: id, script: 'shared/services/shard-service.ts', args: ['--index', o.index, '--shard', '0', '--shards', '1'], ...(cpus ? { cpus } : {}) });
      const client = httpRpcClient(svc.url, { secret: sup.secret, connections: 32 });
      return {
        id,
        url: svc.url,
        client,
        stop: async () => {
          await client.close();
          await sup.stop();
        },
      };
    } catch (err) {
      await sup.stop();
      throw err;
    }
  };
  return { start, secret };
}

interface Member {
  replica: Replica;
  inFlight: number;
  /** Answers (and errors) it gave since it joined. */
  done: number;
  draining: boolean;
}

/**
 * An `RpcClient` over a changing set of replicas: least outstanding calls among those serving, ties rotating. A
 * replica joins once ready (`add`) and leaves by draining (`drain`). With no replica serving, a call fails
 * UNAVAILABLE (the fixed-size runs never get there; a scaler with minReplicas ≥ 1 neither).
 */
export class ElasticPool implements RpcClient {
  readonly target = 'elastic-pool';
  private readonly members: Member[] = [];
  private cursor = 0;

  get serving(): number {
    return this.members.filter((m) => !m.draining).length;
  }

  /** Each serving replica's answers so far, by id. */
  answered(): Map<string, number> {
    return new Map(this.members.filter((m) => !m.draining).map((m) => [m.replica.id, m.done]));
  }

  ids(): string[] {
    return this.members.filter((m) => !m.draining).map((m) => m.replica.id);
  }

  add(replica: Replica): void {
    this.members.push({ replica, inFlight: 0, done: 0, draining: false });
  }

  /** Stops picking `id`, waits until its calls in flight are answered (at most `timeoutMs`), stops it. */
  async drain(id: string, timeoutMs = 10_000): Promise<void> {
    const m = this.members.find((x) => x.replica.id === id && !x.draining);
    if (!m) return;
    m.draining = true;
    const until = performance.now() + timeoutMs;
    while (m.inFlight > 0 && performance.now() < until) await new Promise((r) => setTimeout(r, 5));
    this.members.splice(this.members.indexOf(m), 1);
    await m.replica.stop();
  }

  async call<Res = unknown>(method: string, req: unknown, opts?: CallOptions): Promise<Res> {
    let best: Member | undefined;
    const n = this.members.length;
    for (let k = 0; k < n; k++) {
      const m = this.members[(this.cursor + k) % n];
      if (m.draining) continue;
      if (!best || m.inFlight < best.inFlight) best = m;
    }
    this.cursor++;
    if (!best) throw new RpcError('UNAVAILABLE', 'no replica is serving', this.target);
    best.inFlight++;
    try {
      return await best.replica.client.call<Res>(method, req, opts);
    } finally {
      best.inFlight--;
      best.done++;
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.members.splice(0).map((m) => m.replica.stop()));
  }
}

/** Anything that decides a replica count from the pods' samples (after.ts's `Scaler`, a fixed count). */
export interface Decider {
  decide(now: number, current: number, pods: readonly PodMetric[]): number;
}

export interface LocalAutoscalerOptions {
  start: StartReplica;
  scaler: Decider;
  /** Time between decisions, ms (the HPA's 15 s, compressed). Default 1000. */
  syncMs?: number;
  /** Replicas started (and waited for) by `init`. Default 1. */
  initial?: number;
  log?: (line: string) => void;
}

/** One sync, as the autoscaler saw it. */
export interface SyncRecord {
  /** ms since `run()`. */
  t: number;
  serving: number;
  starting: number;
  desired: number;
  /** Mean QPS per serving replica over the last sync. */
  qpsPerReplica: number;
}

interface Proc {
  id: string;
  startedAt: number;
  stoppedAt?: number;
  state: 'starting' | 'serving' | 'stopping' | 'stopped';
  /** Asked to go while it was still starting: stopped as soon as its start resolves. */
  cancelled?: boolean;
}

export class LocalAutoscaler {
  readonly pool = new ElasticPool();
  readonly history: SyncRecord[] = [];
  /** Replica starts that failed (logged; the next sync asks again). */
  readonly startFailures: string[] = [];
  private readonly procs: Proc[] = [];
  private readonly pending = new Set<Promise<void>>();
  private readonly log: (line: string) => void;
  private readonly syncMs: number;
  private timer: NodeJS.Timeout | undefined;
  private t0 = performance.now();
  private lastAt = performance.now();
  private lastAnswered = new Map<string, number>();
  private seq = 0;
  private stopped = false;

  constructor(private readonly o: LocalAutoscalerOptions) {
    this.log = o.log ?? (() => {});
    this.syncMs = o.syncMs ?? 1000;
  }

  /** Starts the initial replicas and waits until they serve. */
  async init(): Promise<void> {
    await Promise.all(Array.from({ length: this.o.initial ?? 1 }, () => this.launch()));
    if (this.pool.serving === 0) throw new Error(`no replica could be started: ${this.startFailures.join('; ')}`);
  }

  /** Begins the sync loop (the clock of `history` starts now). */
  run(): void {
    this.t0 = this.lastAt = performance.now();
    this.lastAnswered = this.pool.answered();
    this.timer = setInterval(() => this.sync(), this.syncMs);
  }

  /** Replica processes started so far (the initial ones included). */
  get started(): number {
    return this.procs.length;
  }

  /** Processes alive now, by state. */
  counts(): { starting: number; serving: number; stopping: number } {
    const c = { starting: 0, serving: 0, stopping: 0 };
    for (const p of this.procs) if (p.state !== 'stopped') c[p.state]++;
    return c;
  }

  /** Σ over every replica process of its lifetime so far (fork to exit), s. */
  replicaSeconds(since = this.t0): number {
    const now = performance.now();
    let ms = 0;
    for (const p of this.procs) ms += Math.max(0, (p.stoppedAt ?? now) - Math.max(p.startedAt, since));
    return ms / 1000;
  }

  /** One decision: the samples, the scaler, then start or drain the difference. Exposed for tests. */
  sync(): void {
    if (this.stopped) return;
    const now = performance.now();
    const secs = Math.max(1e-3, (now - this.lastAt) / 1000);
    const answered = this.pool.answered();
    const pods: PodMetric[] = [];
    let total = 0;
    for (const [id, n] of answered) {
      const prev = this.lastAnswered.get(id);
      // a replica that joined during this sync has no full window yet: it reports no sample
      const value = prev === undefined ? undefined : (n - prev) / secs;
      if (value !== undefined) total += value;
      pods.push({ ready: true, ...(value !== undefined ? { value } : {}) });
    }
    const starting = this.procs.filter((p) => p.state === 'starting' && !p.cancelled);
    for (let i = 0; i < starting.length; i++) pods.push({ ready: false });
    this.lastAnswered = answered;
    this.lastAt = now;
    const current = pods.length;
    const desired = Math.max(0, Math.round(this.o.scaler.decide(now - this.t0, current, pods)));
    const withValue = pods.filter((p) => p.value !== undefined).length;
    this.history.push({ t: now - this.t0, serving: answered.size, starting: starting.length, desired, qpsPerReplica: withValue ? total / withValue : 0 });
    if (desired > current) {
      this.log(`autoscaler: ${current} → ${desired} (${(withValue ? total / withValue : 0).toFixed(0)} QPS per replica)`);
      for (let i = current; i < desired; i++) void this.launch();
    } else if (desired < current) {
      this.log(`autoscaler: ${current} → ${desired} (${(withValue ? total / withValue : 0).toFixed(0)} QPS per replica)`);
      let excess = current - desired;
      // as a ReplicaSet does: pods not ready first, then the newest
      for (const p of [...starting].reverse()) {
        if (excess === 0) break;
        p.cancelled = true;
        excess--;
      }
      const serving = this.procs.filter((p) => p.state === 'serving').sort((a, b) => b.startedAt - a.startedAt);
      for (const p of serving.slice(0, excess)) this.track(this.retire(p));
    }
  }

  private track(p: Promise<void>): void {
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p));
  }

  private launch(): Promise<void> {
    const p: Proc = { id: `replica-${this.seq++}`, startedAt: performance.now(), state: 'starting' };
    this.procs.push(p);
    const run = (async () => {
      try {
        const r = await this.o.start(p.id);
        if (p.cancelled || this.stopped) {
          p.state = 'stopping';
          await r.stop();
        } else {
          p.state = 'serving';
          this.pool.add(r);
          this.log(`${p.id} ready in ${(performance.now() - p.startedAt).toFixed(0)} ms`);
          return;
        }
      } catch (err) {
        this.startFailures.push(`${p.id}: ${(err as Error).message}`);
        this.log(`${p.id} failed to start: ${(err as Error).message}`);
      }
      p.state = 'stopped';
      p.stoppedAt = performance.now();
    })();
    this.track(run);
    return run;
  }

  private async retire(p: Proc): Promise<void> {
    p.state = 'stopping';
    await this.pool.drain(p.id);
    p.state = 'stopped';
    p.stoppedAt = performance.now();
  }

  /** Stops the loop, waits for starts and drains in progress, stops every replica. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
    for (const p of this.procs) if (p.state === 'serving') this.track(this.retire(p));
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
    await this.pool.close();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The load

/** `n` search requests for a shard of `index` (BM25 tokens and a query vector each), seeded. */
export function shardSearchRequests(index: string, n: number, seed = 11): unknown[] {
  const manifest = JSON.parse(fs.readFileSync(path.join(index, 'manifest.json'), 'utf8')) as { embedder?: { dim?: number } };
  const dim = manifest.embedder?.dim ?? 100;
  const words = 'the money river state church court war music school family city water light night house army market labor'.split(' ');
  const rand = mulberry32(seed);
  return Array.from({ length: n }, () => {
    const v = Array.from({ length: dim }, () => rand() * 2 - 1);
    const norm = Math.hypot(...v);
    return { k: 10, tokens: Array.from({ length: 3 }, () => words[Math.floor(rand() * words.length)]), vector: v.map((x) => x / norm) };
  });
}

export interface RampOptions {
  /** Sends one request (its promise settles with the answer). */
  send: (i: number) => Promise<unknown>;
  /** Offered load at t ms into the ramp, requests per second. */
  qpsAt: (t: number) => number;
  durationMs: number;
  /** Ends the ramp early when it returns true (checked before each request is sent). */
  stopWhen?: (t: number) => boolean;
  /** Called about every second with the elapsed ms (progress on stderr). */
  onTick?: (t: number) => void;
}

export interface RampResult {
  /** Latency of every answered request, from the instant it was due (no coordinated omission), ms. */
  latencies: number[];
  failed: number;
  /** Of every failed request, the time from its due instant to its failure, ms. */
  failedAfter: number[];
  sent: number;
  /** First failure messages (up to 5). */
  errors: string[];
}

/** An open-loop ramp: each request is due at its slot in the schedule and sent then, answered or not. */
export async function runRamp(o: RampOptions): Promise<RampResult> {
  const res: RampResult = { latencies: [], failed: 0, failedAfter: [], sent: 0, errors: [] };
  const inflight = new Set<Promise<void>>();
  const t0 = performance.now();
  let next = 0; // ms since t0 of the next due request
  let lastTick = 0;
  let end = o.durationMs;
  while (next < end) {
    const now = performance.now() - t0;
    if (o.stopWhen?.(now)) end = Math.min(end, next);
    while (next <= now && next < end) {
      const due = next;
      const i = res.sent++;
      const p = o
        .send(i)
        .then(
          () => void res.latencies.push(performance.now() - t0 - due),
          (err: Error) => {
            res.failed++;
            res.failedAfter.push(performance.now() - t0 - due);
            if (res.errors.length < 5) res.errors.push(err.message);
          },
        )
        .finally(() => inflight.delete(p));
      inflight.add(p);
      next += 1000 / Math.max(0.5, o.qpsAt(due));
    }
    if (o.onTick && now - lastTick >= 1000) {
      lastTick = now;
      o.onTick(now);
    }
    await new Promise((r) => setTimeout(r, Math.max(1, Math.min(5, next - (performance.now() - t0)))));
  }
  await Promise.allSettled([...inflight]);
  return res;
}
