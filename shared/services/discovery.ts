/**
 * Service discovery: which instances of a service are alive right now, and a client that spreads calls over them.
 *
 *     const registry = new Registry(await natsKvBackend({ bucket: 'services' }));     // or memoryBackend()
 *     // on each instance:
 *     const reg = await registry.register({ service: 'shard-0', id: 'a', url: server.url }, { ttlMs: 3_000 });
 *     // ...graceful stop: deregister FIRST, then drain (server.close(): in-flight calls finish), then exit
 *     await reg.deregister();
 *     // on the caller (the gateway, per shard):
 *     const shard0 = new DiscoveredClient(await registry.discover('shard-0'), {
 *       connect: (inst) => httpRpcClient(inst.url, { secret }),
 *       idempotent: ['search', 'stats'],                                              // reads: safe to send twice
 *     });
 *     await shard0.call('search', { ... });                                            // an RpcClient like any other
 *
 * - **Registration with a TTL, kept alive by heartbeats.** An entry says "instance `id` of `service` is at `url`,
 *   and believe it for `ttlMs`". `register` puts it and re-puts it every `heartbeatMs` (default ttl / 3, so two
 *   heartbeats can be lost before it expires). An instance that dies without a word (kill -9, a lost machine) stops
 *   heartbeating and drops out once its TTL has passed: **that TTL is the window in which callers still pick a dead
 *   instance**. A graceful stop deregisters (deletes the entry) at once, so the window is a propagation delay.
 * - **Discovery = watch + local expiry.** `discover(service)` reads the live entries and then follows changes (a
 *   push, not polling). It also expires entries itself: an entry not refreshed within its TTL (by the watcher's own
 *   clock) is dropped. The backend's TTL only garbage-collects storage: NATS KV's bucket max-age removes old entries
 *   silently on servers before 2.11 (no delete marker reaches a watcher), and Redis' expired-key notifications are
 *   late and fire-and-forget. Expiring on the watcher's side works the same on every backend and lets a test
 *   inject a clock.
 * - **Backends** implement `RegistryBackend` (put, remove, watch): `memoryBackend()` (one process: checkpoints,
 *   tests) and `natsKvBackend()` (NATS JetStream key-value, a bucket per registry, keys `<service>.<id>`). NATS KV
 *   was chosen over Redis because its watch is a push from a consistent revision (no missed change between "read the
 *   list" and "follow changes"), it needs no server-wide setting (Redis keyspace notifications need
 *   `notify-keyspace-events`, a global CONFIG SET, and are lost while a watcher is disconnected), and T4 already runs
 *   on NATS (nats-rpc.ts, jetstream-log.ts). etcd (leases + watch) is the classic choice and has the same shape.
 * - **`DiscoveredClient`** implements `RpcClient` over the live instances: round robin (default) or least
 *   outstanding calls, one pooled client per instance (closed once the instance leaves and its calls are done).
 *   **One retry on another instance**, by this rule (`retryElsewhere`): the error is UNAVAILABLE, and either the
 *   call was provably not processed (connection refused, or the instance answered "shutting down" before running
 *   it: `notProcessed`) or the method is idempotent (a read: sending it twice is harmless). A write whose
 *   connection died mid-call may have been applied: it is not retried, the caller gets the UNAVAILABLE (an unknown
 *   outcome, for an idempotency key to settle). DEADLINE_EXCEEDED, OVERLOADED and the rest are not this layer's
 *   business (the retry policy with a budget is, resilience.ts).
 *
 * The Kubernetes equivalent: a headless Service (`clusterIP: None`) whose DNS name resolves to one A record per
 * *ready* pod (EndpointSlices, gated by the readiness probe, e.g. http-rpc's `/readyz`); the kubelet's probes are the
 * heartbeat, and a pod being deleted leaves the endpoints before its SIGTERM grace period drains it.
 */
import { Kvm, KvWatchInclude, type KV } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { NATS_URL } from './nats-rpc.ts';
import { isRpcError, RpcError, type CallOptions, type RpcClient } from './rpc.ts';

// ---------------------------------------------------------------------------------------------------------------
// Entries, clocks, backends

/** One instance of a service, as the registry holds it. */
export interface Instance {
  service: string;
  /** Unique within the service; letters, digits, '-' and '_' (it is part of a key). */
  id: string;
  /** Where to call it: a base URL (http-rpc) or a subject. */
  url: string;
  /** How long the entry is believed without a heartbeat, ms. */
  ttlMs: number;
}

export type RegistryEvent = { type: 'put'; instance: Instance } | { type: 'delete'; service: string; id: string };

/** Time and timers, injectable: `systemClock` in production, a `ManualClock` in checkpoints. */
export interface Clock {
  /** Monotonic ms. */
  now(): number;
  /** Calls `fn` every `ms`; returns the cancel function. */
  every(ms: number, fn: () => void): () => void;
}

export const systemClock: Clock = {
  now: () => performance.now(),
  every: (ms, fn) => {
    const t = setInterval(fn, ms);
    t.unref?.();
    return () => clearInterval(t);
  },
};

/** A clock that moves only when told: `await clock.advance(ms)` runs every timer due on the way, in order. */
export class ManualClock implements Clock {
  private t = 0;
  private timers = new Set<{ at: number; ms: number; fn: () => void }>();

  constructor(start = 0) {
    this.t = start;
  }

  now(): number {
    return this.t;
  }

  every(ms: number, fn: () => void): () => void {
    const timer = { at: this.t + ms, ms, fn };
    this.timers.add(timer);
    return () => void this.timers.delete(timer);
  }

  /** Moves time forward by `ms`, firing due timers one at a time (and letting their async work settle). */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      let next: { at: number; ms: number; fn: () => void } | undefined;
      for (const tm of this.timers) if (tm.at <= end && (!next || tm.at < next.at)) next = tm;
      if (!next) break;
      this.t = next.at;
      next.at += next.ms;
      next.fn();
      await settle();
    }
    this.t = end;
    await settle();
  }
}

/** Lets promise chains and I/O callbacks queued so far run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise<void>((r) => setImmediate(r));
}

/** Where entries live. Backend-neutral: put (register or heartbeat), remove, and a watch from a consistent point. */
export interface RegistryBackend {
  readonly name: string;
  put(instance: Instance): Promise<void>;
  remove(service: string, id: string): Promise<void>;
  /**
   * The service's current entries, and every change after them (none missed, none twice) to `onEvent` until
   * `stop()`. Entries may include some past their TTL: the watcher expires those itself.
   */
  watch(service: string, onEvent: (e: RegistryEvent) => void): Promise<{ initial: Instance[]; stop(): Promise<void> }>;
  close(): Promise<void>;
}

const ID = /^[A-Za-z0-9_-]+$/;

function checkInstance(i: Pick<Instance, 'service' | 'id'>): void {
  if (!ID.test(i.service) || !ID.test(i.id)) {
    throw new RpcError('INVALID_ARGUMENT', `service "${i.service}" and id "${i.id}" may hold only letters, digits, '-' and '_'`);
  }
}

export interface MemoryBackend extends RegistryBackend {
  /**
   * The instance's process is gone as the registry sees it (kill -9, a partition): its later puts and removes are
   * dropped, so its entry lives out its TTL. For checkpoints.
   */
  sever(service: string, id: string): void;
  /** Puts accepted so far (registrations and heartbeats), for counting. */
  readonly puts: number;
}

/** An in-process registry (one Map), with the clock used to forget entries past their TTL on a new watch. */
export function memoryBackend(clock: Clock = systemClock): MemoryBackend {
  const entries = new Map<string, { instance: Instance; at: number }>();
  const watchers = new Set<{ service: string; onEvent: (e: RegistryEvent) => void }>();
  const severed = new Set<string>();
  const key = (s: string, id: string) => `${s}.${id}`;
  let puts = 0;
  return {
    name: 'memory',
    get puts() {
      return puts;
    },
    sever: (service, id) => void severed.add(key(service, id)),
    async put(instance) {
      checkInstance(instance);
      if (severed.has(key(instance.service, instance.id))) return;
      puts++;
      entries.set(key(instance.service, instance.id), { instance: { ...instance }, at: clock.now() });
      for (const w of watchers) if (w.service === instance.service) w.onEvent({ type: 'put', instance: { ...instance } });
    },
    async remove(service, id) {
      if (severed.has(key(service, id))) return;
      if (!entries.delete(key(service, id))) return;
      for (const w of watchers) if (w.service === service) w.onEvent({ type: 'delete', service, id });
    },
    async watch(service, onEvent) {
      const w = { service, onEvent };
      watchers.add(w);
      const now = clock.now();
      const initial = [...entries.values()].filter((e) => e.instance.service === service && now - e.at < e.instance.ttlMs).map((e) => ({ ...e.instance }));
      return { initial, stop: async () => void watchers.delete(w) };
    },
    close: async () => watchers.clear(),
  };
}

export interface NatsKvBackendOptions {
  /** Default NATS_URL or 127.0.0.1:4222. */
  servers?: string | string[];
  /** An open connection to use (not closed by `close`). */
  connection?: NatsConnection;
  /** The KV bucket; default 'services'. Created if missing. */
  bucket?: string;
  /**
   * The bucket's max-age, ms (default 60 s): entries older than this are removed by the server (storage GC; the
   * watcher's own expiry is what drops a silent instance, see the file header). Keep it ≥ the largest TTL.
   */
  maxAgeMs?: number;
}

export interface NatsKvBackend extends RegistryBackend {
  readonly kv: KV;
  /** Deletes the bucket (tests and benches use a bucket of their own). */
  destroy(): Promise<void>;
}

/** A registry in a NATS JetStream key-value bucket: keys `<service>.<id>`, values the instance as JSON. */
export async function natsKvBackend(opts: NatsKvBackendOptions = {}): Promise<NatsKvBackend> {
  const own = opts.connection === undefined;
  const nc = opts.connection ?? (await connect({ servers: opts.servers ?? NATS_URL(), timeout: 2_000 }));
  const bucket = opts.bucket ?? 'services';
  let kv: KV;
  try {
    kv = await new Kvm(nc).create(bucket, { history: 1, ttl: opts.maxAgeMs ?? 60_000 });
  } catch (err) {
    if (own) await nc.close();
    throw err;
  }
  const watches = new Set<() => Promise<void>>();
  const decode = (value: Uint8Array): Instance | undefined => {
    try {
      return JSON.parse(new TextDecoder().decode(value)) as Instance;
    } catch {
      return undefined;
    }
  };
  return {
    name: `nats-kv:${bucket}`,
    kv,
    async put(instance) {
      checkInstance(instance);
      await kv.put(`${instance.service}.${instance.id}`, JSON.stringify(instance));
    },
    async remove(service, id) {
      await kv.delete(`${service}.${id}`);
    },
    async watch(service, onEvent) {
      // Follow updates first, then read the current values: a change between the two is seen by the watch, and
      // each key's revision says which of the two is newer (none missed, none applied twice).
      const revs = new Map<string, number>();
      let buffering: Array<[number, string, RegistryEvent]> | undefined = [];
      const apply = (rev: number, id: string, e: RegistryEvent) => {
        if ((revs.get(id) ?? 0) >= rev) return;
        revs.set(id, rev);
        onEvent(e);
      };
      const iter = await kv.watch({ key: `${service}.>`, include: KvWatchInclude.UpdatesOnly });
      const pump = (async () => {
        for await (const e of iter) {
          const id = e.key.slice(service.length + 1);
          const ev: RegistryEvent | undefined =
            e.operation === 'PUT' ? ((inst) => (inst ? { type: 'put' as const, instance: inst } : undefined))(decode(e.value)) : { type: 'delete', service, id };
          if (!ev) continue;
          if (buffering) buffering.push([e.revision, id, ev]);
          else apply(e.revision, id, ev);
        }
      })();
      const current = new Map<string, Instance>();
      for await (const k of await kv.keys(`${service}.>`)) {
        const e = await kv.get(k);
        if (!e || e.operation !== 'PUT') continue;
        const inst = decode(e.value);
        const id = k.slice(service.length + 1);
        if (inst && (revs.get(id) ?? 0) < e.revision) {
          revs.set(id, e.revision);
          current.set(id, inst);
        }
      }
      const pending = buffering;
      buffering = undefined;
      for (const [rev, id, ev] of pending) {
        if ((revs.get(id) ?? 0) >= rev) continue;
        revs.set(id, rev);
        if (ev.type === 'put') current.set(id, ev.instance);
        else current.delete(id);
      }
      const stop = async () => {
        watches.delete(stop);
        iter.stop();
        await pump.catch(() => {});
      };
      watches.add(stop);
      return { initial: [...current.values()], stop };
    },
    async destroy() {
      await kv.destroy();
    },
    async close() {
      for (const stop of [...watches]) await stop();
      if (own && !nc.isClosed()) await nc.close();
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Registry: register with heartbeats, discover with watch + expiry

export interface RegisterOptions {
  /** How long the entry is believed without a heartbeat, ms. */
  ttlMs: number;
  /** Re-put every this many ms; default ttlMs / 3 (two heartbeats may be lost before the entry expires). */
  heartbeatMs?: number;
}

export interface Registration {
  readonly instance: Instance;
  /** Heartbeats sent so far (the first put not counted) and those that failed (the registry unreachable). */
  readonly heartbeats: { sent: number; failed: number };
  /** Stops the heartbeats and deletes the entry: callers stop picking this instance (do it before draining). */
  deregister(): Promise<void>;
}

export interface DiscoverOptions {
  /** How often entries past their TTL are dropped, ms; default 100 (bounds how late an expiry is seen). */
  sweepMs?: number;
}

/** The live instances of one service, kept current by a watch and local TTL expiry. */
export interface Discovery {
  readonly service: string;
  /** The live instances now (sorted by id). */
  snapshot(): Instance[];
  /** Called with the live instances after every join, leave or expiry (not on heartbeats). Returns the unsubscribe. */
  onChange(fn: (live: Instance[], change: DiscoveryChange) => void): () => void;
  /** Every change as it happens, from now on: `for await (const live of discovery) ...`. */
  [Symbol.asyncIterator](): AsyncIterator<Instance[]>;
  /** Entries dropped because their TTL passed without a heartbeat (an instance that died silently). */
  readonly expired: number;
  close(): Promise<void>;
}

export type DiscoveryChange = { type: 'join' | 'leave' | 'expire'; id: string; at: number };

export class Registry {
  readonly clock: Clock;

  constructor(
    readonly backend: RegistryBackend,
    opts: { clock?: Clock } = {},
  ) {
    this.clock = opts.clock ?? systemClock;
  }

  /** Puts the entry and keeps it alive with heartbeats until `deregister()`. */
  async register(instance: Omit<Instance, 'ttlMs'>, opts: RegisterOptions): Promise<Registration> {
    const entry: Instance = { service: instance.service, id: instance.id, url: instance.url, ttlMs: opts.ttlMs };
    const every = opts.heartbeatMs ?? opts.ttlMs / 3;
    if (!(every > 0 && every < opts.ttlMs)) {
      throw new RpcError('INVALID_ARGUMENT', `heartbeatMs (${every}) must be > 0 and below ttlMs (${opts.ttlMs}), or the entry expires between heartbeats`);
    }
    await this.backend.put(entry);
    const heartbeats = { sent: 0, failed: 0 };
    let beating = true;
    const cancel = this.clock.every(every, () => {
      if (!beating) return;
      heartbeats.sent++;
      this.backend.put(entry).catch(() => heartbeats.failed++);
    });
    return {
      instance: entry,
      heartbeats,
      deregister: async () => {
        if (!beating) return;
        beating = false;
        cancel();
        await this.backend.remove(entry.service, entry.id);
      },
    };
  }

  /** Follows the live instances of `service`. Resolves once the current entries are known. */
  async discover(service: string, opts: DiscoverOptions = {}): Promise<Discovery> {
    const clock = this.clock;
    const seen = new Map<string, { instance: Instance; at: number }>();
    const listeners = new Set<(live: Instance[], change: DiscoveryChange) => void>();
    let expired = 0;
    let live: Instance[] = [];
    const recompute = (change: DiscoveryChange) => {
      live = [...seen.values()].map((e) => e.instance).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
      for (const fn of [...listeners]) fn(live, change);
    };
    const onEvent = (e: RegistryEvent) => {
      if (e.type === 'put') {
        const known = seen.get(e.instance.id);
        seen.set(e.instance.id, { instance: e.instance, at: clock.now() });
        if (!known || known.instance.url !== e.instance.url) recompute({ type: 'join', id: e.instance.id, at: clock.now() });
      } else if (seen.delete(e.id)) recompute({ type: 'leave', id: e.id, at: clock.now() });
    };
    const w = await this.backend.watch(service, onEvent);
    for (const inst of w.initial) if (!seen.has(inst.id)) seen.set(inst.id, { instance: inst, at: clock.now() });
    live = [...seen.values()].map((e) => e.instance).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const cancelSweep = clock.every(opts.sweepMs ?? 100, () => {
      const now = clock.now();
      for (const [id, e] of seen) {
        if (now - e.at > e.instance.ttlMs) {
          seen.delete(id);
          expired++;
          recompute({ type: 'expire', id, at: now });
        }
      }
    });
    let closed = false;
    const closers = new Set<() => void>();
    const discovery: Discovery = {
      service,
      snapshot: () => live,
      onChange(fn) {
        listeners.add(fn);
        return () => void listeners.delete(fn);
      },
      get expired() {
        return expired;
      },
      [Symbol.asyncIterator]() {
        const queue: Instance[][] = [];
        let wake: (() => void) | undefined;
        const off = discovery.onChange((l) => {
          queue.push(l);
          wake?.();
        });
        const end = () => {
          off();
          wake?.();
        };
        closers.add(end);
        return {
          async next(): Promise<IteratorResult<Instance[]>> {
            while (queue.length === 0 && !closed) await new Promise<void>((r) => (wake = r));
            wake = undefined;
            if (queue.length > 0) return { value: queue.shift()!, done: false };
            return { value: undefined, done: true };
          },
          async return(): Promise<IteratorResult<Instance[]>> {
            closers.delete(end);
            off();
            return { value: undefined, done: true };
          },
        };
      },
      async close() {
        if (closed) return;
        closed = true;
        cancelSweep();
        listeners.clear();
        for (const c of closers) c();
        await w.stop();
      },
    };
    return discovery;
  }

  close(): Promise<void> {
    return this.backend.close();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// DiscoveredClient: balance over the live instances, one retry elsewhere when it is safe

/** The call was provably not run by the instance: the connection was refused, or it answered "shutting down". */
export function notProcessed(err: unknown): boolean {
  if (!isRpcError(err, 'UNAVAILABLE')) return false;
  return /ECONNREFUSED|shutting down|no live instance/.test(err.message);
}

export interface RetryContext {
  method: string;
  /** The method is declared idempotent (a read): running it twice changes nothing. */
  idempotent: boolean;
}

/** Decides whether a failed call is sent once more, to another instance. */
export type RetryRule = (err: unknown, call: RetryContext) => boolean;

/**
 * The rule: UNAVAILABLE, and either the instance provably did not run the call (`notProcessed`: safe for any
 * method) or the method is idempotent (a read whose connection died mid-call can simply be asked again). A write
 * that may have been applied is never sent twice.
 */
export const retryElsewhere: RetryRule = (err, call) => isRpcError(err, 'UNAVAILABLE') && (call.idempotent || notProcessed(err));

export interface DiscoveredClientOptions {
  /** Opens a client for one instance (e.g. `(i) => httpRpcClient(i.url, { secret })`). */
  connect: (instance: Instance) => RpcClient;
  /** 'round-robin' (default) or 'least-outstanding' (fewest calls in flight; ties by round robin). */
  balance?: 'round-robin' | 'least-outstanding';
  /** Methods safe to send twice (reads), or a predicate. Default none. */
  idempotent?: Iterable<string> | ((method: string) => boolean);
  /** Whether a failure is retried once on another instance; default `retryElsewhere`. */
  retry?: RetryRule;
}

export interface DiscoveredClientStats {
  calls: number;
  /** Calls sent a second time, to another instance. */
  retries: number;
  /** Calls that failed (after the retry, if any). */
  failed: number;
  /** Attempts per instance id (what each instance received from this client). */
  byInstance: Map<string, number>;
}

interface Member {
  instance: Instance;
  client: RpcClient;
  inFlight: number;
  gone: boolean;
}

/** An RpcClient over the live instances of one service (see the file header for the retry rule). */
export class DiscoveredClient implements RpcClient {
  readonly target: string;
  readonly stats: DiscoveredClientStats = { calls: 0, retries: 0, failed: 0, byInstance: new Map() };
  private members = new Map<string, Member>();
  private order: Member[] = [];
  private next = 0;
  private readonly idempotent: (method: string) => boolean;
  private readonly retry: RetryRule;
  private readonly off: () => void;
  private closing: Promise<void>[] = [];

  constructor(
    readonly discovery: Discovery,
    private readonly opts: DiscoveredClientOptions,
  ) {
    this.target = `discovery:${discovery.service}`;
    const idem = opts.idempotent;
    if (typeof idem === 'function') this.idempotent = idem;
    else {
      const set = new Set(idem ?? []);
      this.idempotent = (m) => set.has(m);
    }
    this.retry = opts.retry ?? retryElsewhere;
    this.sync(discovery.snapshot());
    this.off = discovery.onChange((live) => this.sync(live));
  }

  /** The instances calls are spread over now. */
  instances(): Instance[] {
    return this.order.map((m) => m.instance);
  }

  private sync(live: Instance[]): void {
    const ids = new Set(live.map((i) => i.id));
    for (const [id, m] of this.members) {
      if (ids.has(id) && m.instance.url === live.find((i) => i.id === id)!.url) continue;
      this.members.delete(id);
      m.gone = true;
      if (m.inFlight === 0) this.closing.push(m.client.close().catch(() => {}));
    }
    for (const inst of live) if (!this.members.has(inst.id)) this.members.set(inst.id, { instance: inst, client: this.opts.connect(inst), inFlight: 0, gone: false });
    this.order = [...this.members.values()].sort((a, b) => (a.instance.id < b.instance.id ? -1 : 1));
  }

  private pick(exclude?: Member): Member | undefined {
    const pool = exclude ? this.order.filter((m) => m !== exclude) : this.order;
    if (pool.length === 0) return undefined;
    if (this.opts.balance === 'least-outstanding') {
      let best: Member | undefined;
      for (let k = 0; k < pool.length; k++) {
        const m = pool[(this.next + k) % pool.length];
        if (!best || m.inFlight < best.inFlight) best = m;
      }
      this.next++;
      return best;
    }
    return pool[this.next++ % pool.length];
  }

  private async attempt<Res>(m: Member, method: string, req: unknown, opts?: CallOptions): Promise<Res> {
    m.inFlight++;
    this.stats.byInstance.set(m.instance.id, (this.stats.byInstance.get(m.instance.id) ?? 0) + 1);
    try {
      return await m.client.call<Res>(method, req, opts);
    } finally {
      m.inFlight--;
      if (m.gone && m.inFlight === 0) this.closing.push(m.client.close().catch(() => {}));
    }
  }

  async call<Res = unknown>(method: string, req: unknown, opts?: CallOptions): Promise<Res> {
    this.stats.calls++;
    const first = this.pick();
    if (!first) {
      this.stats.failed++;
      throw new RpcError('UNAVAILABLE', `no live instance of ${this.discovery.service}`, this.target);
    }
    const t0 = performance.now();
    try {
      return await this.attempt<Res>(first, method, req, opts);
    } catch (err) {
      const second = this.retry(err, { method, idempotent: this.idempotent(method) }) && !opts?.signal?.aborted ? this.pick(first) : undefined;
      if (!second) {
        this.stats.failed++;
        throw err;
      }
      this.stats.retries++;
      // the retry gets only the budget left
      const left = opts?.deadlineMs === undefined ? opts : { ...opts, deadlineMs: opts.deadlineMs - (performance.now() - t0) };
      try {
        return await this.attempt<Res>(second, method, req, left);
      } catch (err2) {
        this.stats.failed++;
        throw err2;
      }
    }
  }

  /** Stops following discovery and closes every instance's client (in-flight calls finish first). */
  async close(): Promise<void> {
    this.off();
    for (const m of this.members.values()) this.closing.push(m.client.close().catch(() => {}));
    this.members.clear();
    this.order = [];
    await Promise.all(this.closing);
  }
}
