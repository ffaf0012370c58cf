/**
 * A replica set: one `RpcClient` over several copies of the same service (the replicas of one retriever shard), so
 * the gateway keeps one client per shard and does not know how many copies answer (t4 lesson 05, scaling out).
 *
 *     const shard0 = new ReplicaSet(urls.map((u) => httpRpcClient(u, { secret })), { name: 'shard-0' });
 *     await shard0.call('search', req, { deadlineMs: 1000 });      // goes to the replica with the fewest calls in flight
 *
 * - **The pick rule** (`leastOutstanding`, the default): among the replicas that are not marked down, the one with
 *   the fewest calls in flight; ties are broken by a rotating cursor, so calls that arrive one at a time are spread
 *   evenly (round robin), and a replica that is slow (a GC pause, a noisy neighbour on its core) is given less until
 *   it catches up. When every replica is marked down, the one whose mark ends first is tried (the caller gets a real
 *   answer or a real error, never an invented one).
 * - **A replica that answers UNAVAILABLE is skipped** (marked down) for `downMs` (default 1000 ms), then tried again.
 *   Without the mark, least-outstanding prefers a dead replica: it fails in a millisecond, so it never has calls in
 *   flight (the "black hole" of least-connections balancing).
 * - **One retry on another replica**, by discovery.ts's rule (`retryElsewhere`): UNAVAILABLE, and the call was
 *   provably not run (connection refused) or the method is idempotent (`search` and `stats` are reads). The retry
 *   gets only the deadline budget that is left.
 *
 * The same balancer over live instances (a registry, heartbeats, TTL) is discovery.ts's `DiscoveredClient`; this one
 * is for a static list (`npm run t4:up -- --replicas R`), where a replica that dies is restarted on the same address
 * by the supervisor, and the set only has to stop sending to it meanwhile.
 */
import { retryElsewhere, type RetryRule } from './discovery.ts';
import { isRpcError, RpcError, type CallOptions, type RpcClient } from './rpc.ts';

/** What the pick rule sees of one replica. */
export interface ReplicaView {
  /** Calls sent to it and not answered yet. */
  readonly inFlight: number;
  /** Marked down (it answered UNAVAILABLE) until this instant, on the set's clock; 0 = never marked. */
  readonly downUntil: number;
}

/**
 * Chooses the replica for the next call: an index into `replicas`. `now` is the set's clock; `cursor` grows by one
 * per pick (for rotating ties). `replicas` is never empty.
 */
export type PickRule = (replicas: readonly ReplicaView[], now: number, cursor: number) => number;

/** Least outstanding calls among the replicas not marked down, ties rotating; all down: the one back soonest. */
export const leastOutstanding: PickRule = (replicas, now, cursor) => {
  let best = -1;
  for (let k = 0; k < replicas.length; k++) {
    const i = (cursor + k) % replicas.length;
    if (replicas[i].downUntil > now) continue;
    if (best < 0 || replicas[i].inFlight < replicas[best].inFlight) best = i;
  }
  if (best >= 0) return best;
  for (let i = 0; i < replicas.length; i++) if (best < 0 || replicas[i].downUntil < replicas[best].downUntil) best = i;
  return best;
};

export interface ReplicaSetOptions {
  /** For messages and `target`; default 'replicas'. */
  name?: string;
  /** The pick rule; default `leastOutstanding`. */
  pick?: PickRule;
  /** How long a replica that answered UNAVAILABLE is skipped, ms. Default 1000. */
  downMs?: number;
  /** Methods safe to send twice (reads). Default ['search', 'stats', 'embed']. */
  idempotent?: Iterable<string>;
  /** Whether a failed call is sent once more, to another replica; default discovery.ts's `retryElsewhere`. */
  retry?: RetryRule;
  /** Monotonic ms; default performance.now (a checkpoint injects its own). */
  now?: () => number;
}

interface Replica extends ReplicaView {
  client: RpcClient;
  inFlight: number;
  downUntil: number;
  /** Calls sent to it (first attempts and retries). */
  calls: number;
}

export class ReplicaSet implements RpcClient {
  readonly target: string;
  /** calls: by the caller; retries: sent a second time elsewhere; markedDown: UNAVAILABLE answers that marked a replica. */
  readonly stats = { calls: 0, retries: 0, failed: 0, markedDown: 0 };
  private readonly replicas: Replica[];
  private readonly pickRule: PickRule;
  private readonly downMs: number;
  private readonly idempotent: Set<string>;
  private readonly retry: RetryRule;
  private readonly now: () => number;
  private cursor = 0;

  constructor(clients: readonly RpcClient[], opts: ReplicaSetOptions = {}) {
    if (clients.length === 0) throw new RpcError('INVALID_ARGUMENT', `replica set ${opts.name ?? ''} needs at least one replica`);
    this.replicas = clients.map((client) => ({ client, inFlight: 0, downUntil: 0, calls: 0 }));
    this.target = `${opts.name ?? 'replicas'}[${clients.map((c) => c.target).join(' ')}]`;
    this.pickRule = opts.pick ?? leastOutstanding;
    this.downMs = opts.downMs ?? 1000;
    this.idempotent = new Set(opts.idempotent ?? ['search', 'stats', 'embed']);
    this.retry = opts.retry ?? retryElsewhere;
    this.now = opts.now ?? (() => performance.now());
  }

  get size(): number {
    return this.replicas.length;
  }

  /** Calls each replica was sent so far, by index. */
  callsByReplica(): number[] {
    return this.replicas.map((r) => r.calls);
  }

  private pick(exclude?: Replica): Replica {
    const pool = exclude && this.replicas.length > 1 ? this.replicas.filter((r) => r !== exclude) : this.replicas;
    const i = this.pickRule(pool, this.now(), this.cursor++);
    const r = pool[i];
    if (!r) throw new RpcError('INTERNAL', `the pick rule returned ${i} for ${pool.length} replica(s)`, this.target);
    return r;
  }

  private async attempt<Res>(r: Replica, method: string, req: unknown, opts?: CallOptions): Promise<Res> {
    r.inFlight++;
    r.calls++;
    try {
      return await r.client.call<Res>(method, req, opts);
    } catch (err) {
      if (isRpcError(err, 'UNAVAILABLE')) {
        r.downUntil = this.now() + this.downMs;
        this.stats.markedDown++;
      }
      throw err;
    } finally {
      r.inFlight--;
    }
  }

  async call<Res = unknown>(method: string, req: unknown, opts?: CallOptions): Promise<Res> {
    this.stats.calls++;
    const first = this.pick();
    const t0 = performance.now();
    try {
      return await this.attempt<Res>(first, method, req, opts);
    } catch (err) {
      if (this.replicas.length < 2 || opts?.signal?.aborted || !this.retry(err, { method, idempotent: this.idempotent.has(method) })) {
        this.stats.failed++;
        throw err;
      }
      this.stats.retries++;
      const left = opts?.deadlineMs === undefined ? opts : { ...opts, deadlineMs: Math.max(1, opts.deadlineMs - (performance.now() - t0)) };
      try {
        return await this.attempt<Res>(this.pick(first), method, req, left);
      } catch (err2) {
        this.stats.failed++;
        throw err2;
      }
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.replicas.map((r) => r.client.close()));
  }
}
