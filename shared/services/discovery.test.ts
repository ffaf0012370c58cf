/**
 * discovery.ts: registration with TTL heartbeats, discovery (watch + local expiry) on a manual clock, the
 * DiscoveredClient's balancing and its one-retry rule over real http-rpc servers, and the NATS KV backend (skipped
 * with a message when NATS is not reachable).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { DiscoveredClient, ManualClock, memoryBackend, natsKvBackend, notProcessed, Registry, retryElsewhere, type Discovery, type Instance } from './discovery.ts';
import { httpRpcClient, serveHttpRpc, type HttpRpcServer } from './http-rpc.ts';
import { natsSkipReason } from './nats-rpc.ts';
import { isRpcError, RpcError } from './rpc.ts';

const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c().catch(() => {});
});

function setup() {
  const clock = new ManualClock();
  const backend = memoryBackend(clock);
  const registry = new Registry(backend, { clock });
  cleanup.push(() => registry.close());
  return { clock, backend, registry };
}

async function discover(registry: Registry, service: string, sweepMs = 50): Promise<Discovery> {
  const d = await registry.discover(service, { sweepMs });
  cleanup.push(() => d.close());
  return d;
}

const ids = (l: Instance[]) => l.map((i) => i.id);

describe('Registry and Discovery (memory backend, manual clock)', () => {
  it('keeps a heartbeating instance listed across many TTLs and drops it at once on deregister', async () => {
    const { clock, registry } = setup();
    const d = await discover(registry, 'shard-0');
    const reg = await registry.register({ service: 'shard-0', id: 'a', url: 'http://a' }, { ttlMs: 1_000 });
    expect(ids(d.snapshot())).toEqual(['a']);
    await clock.advance(10_000);
    expect(ids(d.snapshot()), 'a heartbeating instance expired').toEqual(['a']);
    expect(reg.heartbeats.sent).toBeGreaterThanOrEqual(29);
    const changes: string[] = [];
    d.onChange((_l, c) => changes.push(`${c.type}:${c.id}`));
    await reg.deregister();
    expect(d.snapshot()).toEqual([]);
    expect(changes).toEqual(['leave:a']);
  });

  it('expires an instance that stopped heartbeating once its TTL has passed (the kill -9 window)', async () => {
    const { clock, backend, registry } = setup();
    const d = await discover(registry, 's');
    await registry.register({ service: 's', id: 'a', url: 'http://a' }, { ttlMs: 900, heartbeatMs: 300 });
    await registry.register({ service: 's', id: 'b', url: 'http://b' }, { ttlMs: 900, heartbeatMs: 300 });
    await clock.advance(1_000);
    backend.sever('s', 'a');
    const killedAt = clock.now();
    let goneAt = -1;
    d.onChange((_l, c) => {
      if (c.id === 'a') goneAt = c.at;
    });
    await clock.advance(2_000);
    expect(ids(d.snapshot())).toEqual(['b']);
    expect(d.expired).toBe(1);
    const window = goneAt - killedAt;
    // last heartbeat at most 300 ms before the kill; the entry lives 900 ms after it; the sweep runs every 50 ms
    expect(window).toBeGreaterThanOrEqual(900 - 300);
    expect(window).toBeLessThanOrEqual(900 + 50);
  });

  it('a new watcher sees the instances already registered, and the async iterator yields each change', async () => {
    const { registry } = setup();
    await registry.register({ service: 's', id: 'a', url: 'http://a' }, { ttlMs: 1_000 });
    const d = await discover(registry, 's');
    expect(ids(d.snapshot())).toEqual(['a']);
    const it = d[Symbol.asyncIterator]();
    const b = await registry.register({ service: 's', id: 'b', url: 'http://b' }, { ttlMs: 1_000 });
    await b.deregister();
    expect(ids((await it.next()).value)).toEqual(['a', 'b']);
    expect(ids((await it.next()).value)).toEqual(['a']);
    await it.return!();
  });

  it('refuses a heartbeat interval that lets the entry expire between heartbeats', async () => {
    const { registry } = setup();
    await expect(registry.register({ service: 's', id: 'a', url: 'u' }, { ttlMs: 100, heartbeatMs: 100 })).rejects.toThrow(/below ttlMs/);
  });
});

describe('DiscoveredClient over http-rpc servers', () => {
  async function instance(registry: Registry, id: string, applied: string[]) {
    let server: HttpRpcServer | undefined;
    const h = { crashAfterApply: false };
    server = await serveHttpRpc(async (method, req) => {
      if (method === 'append') {
        applied.push(`${id}:${(req as { v: string }).v}`);
        if (h.crashAfterApply) {
          server!.server.close();
          server!.server.closeAllConnections(); // the process died after applying, before answering
          await new Promise((r) => setTimeout(r, 20));
        }
        return { ok: true };
      }
      return { id };
    });
    cleanup.push(() => server!.close());
    const reg = await registry.register({ service: 's', id, url: server.url }, { ttlMs: 1_000 });
    return { server, reg, h };
  }

  function client(d: Discovery, balance?: 'least-outstanding') {
    const c = new DiscoveredClient(d, { connect: (i) => httpRpcClient(i.url, { connections: 2 }), idempotent: ['read'], ...(balance ? { balance } : {}) });
    cleanup.push(() => c.close());
    return c;
  }

  it('spreads calls evenly, sends a joiner traffic at once, and loses nothing on a graceful leave', async () => {
    const { registry } = setup();
    const applied: string[] = [];
    const a = await instance(registry, 'a', applied);
    await instance(registry, 'b', applied);
    const d = await discover(registry, 's');
    const c = client(d);
    for (let i = 0; i < 10; i++) await c.call('read', {});
    expect(c.stats.byInstance).toEqual(new Map([['a', 5], ['b', 5]]));
    await instance(registry, 'c', applied);
    const got = new Set<string>();
    for (let i = 0; i < 6; i++) got.add(((await c.call('read', {})) as { id: string }).id);
    expect([...got].sort()).toEqual(['a', 'b', 'c']);
    // graceful: deregister, then drain, while calls keep coming
    const load = Array.from({ length: 60 }, (_, i) => c.call('append', { v: String(i) }).then(() => true, () => false));
    await a.reg.deregister();
    await a.server.close();
    expect((await Promise.all(load)).filter((ok) => !ok).length).toBe(0);
    expect(applied.filter((x) => /^[abc]:/.test(x))).toHaveLength(60);
  });

  it('retries a refused call once on another instance, a read cut mid-call too, but never a write that may have run', async () => {
    const { registry } = setup();
    const applied: string[] = [];
    const a = await instance(registry, 'a', applied);
    await instance(registry, 'b', applied);
    const d = await discover(registry, 's');
    const c = client(d);
    // a dies without deregistering: its port is closed, its entry still listed
    a.server.server.close();
    a.server.server.closeAllConnections();
    for (let i = 0; i < 6; i++) await c.call('read', {});
    expect(c.stats.retries).toBeGreaterThan(0);
    expect(c.stats.failed).toBe(0);
    // a write refused (connection refused: never sent) is retried as well
    const before = c.stats.retries;
    for (let i = 0; i < 4; i++) await c.call('append', { v: `w${i}` });
    expect(c.stats.retries).toBeGreaterThan(before);
    expect(applied.filter((x) => x.startsWith('a:'))).toEqual([]);

    // a write that b applied before its connection died: not retried, the caller sees UNAVAILABLE
    const { registry: r2 } = setup();
    const applied2: string[] = [];
    const x = await instance(r2, 'x', applied2);
    await instance(r2, 'y', applied2);
    const c2 = client(await discover(r2, 's'));
    x.h.crashAfterApply = true;
    let err: unknown;
    try {
      await c2.call('append', { v: 'once' }); // round robin starts at x
    } catch (e) {
      err = e;
    }
    expect(isRpcError(err, 'UNAVAILABLE')).toBe(true);
    expect(notProcessed(err)).toBe(false);
    expect(applied2).toEqual(['x:once']);
  });

  it('the rule: UNAVAILABLE and (not processed or idempotent)', () => {
    const refused = new RpcError('UNAVAILABLE', 'append on http://x: ECONNREFUSED');
    const reset = new RpcError('UNAVAILABLE', 'append on http://x: other side closed');
    const draining = new RpcError('UNAVAILABLE', 'append on http://x: the service is shutting down');
    expect(retryElsewhere(refused, { method: 'append', idempotent: false })).toBe(true);
    expect(retryElsewhere(draining, { method: 'append', idempotent: false })).toBe(true);
    expect(retryElsewhere(reset, { method: 'append', idempotent: false })).toBe(false);
    expect(retryElsewhere(reset, { method: 'read', idempotent: true })).toBe(true);
    expect(retryElsewhere(new RpcError('DEADLINE_EXCEEDED', 'late'), { method: 'read', idempotent: true })).toBe(false);
  });

  it('least-outstanding prefers the idle instance', async () => {
    const { registry } = setup();
    let release!: () => void;
    const slow = await serveHttpRpc(async () => {
      await new Promise<void>((r) => (release = r));
      return { id: 'slow' };
    });
    const fast = await serveHttpRpc(async () => ({ id: 'fast' }));
    cleanup.push(() => slow.close(), () => fast.close());
    await registry.register({ service: 's', id: 'a', url: slow.url }, { ttlMs: 1_000 });
    await registry.register({ service: 's', id: 'b', url: fast.url }, { ttlMs: 1_000 });
    const c = client(await discover(registry, 's'), 'least-outstanding');
    const pending = c.call('read', {});
    for (let i = 0; i < 5; i++) expect(await c.call('read', {})).toEqual({ id: 'fast' });
    release();
    expect(await pending).toEqual({ id: 'slow' });
  });

  it('fails with UNAVAILABLE when no instance is live', async () => {
    const { registry } = setup();
    const c = client(await discover(registry, 'none'));
    await expect(c.call('read', {})).rejects.toThrow(/no live instance of none/);
  });
});

const natsSkip = await natsSkipReason();
if (natsSkip) console.warn(`discovery NATS KV tests skipped: ${natsSkip}`);

describe.skipIf(natsSkip !== undefined)('natsKvBackend', () => {
  it('registers, watches joins and leaves across connections, and hands a new watcher the current entries', async () => {
    const bucket = `lab_discovery_test_${process.pid}_${Date.now()}`;
    const a = await natsKvBackend({ bucket, maxAgeMs: 10_000 });
    cleanup.push(async () => {
      await a.destroy();
      await a.close();
    });
    const b = await natsKvBackend({ bucket, maxAgeMs: 10_000 });
    cleanup.push(() => b.close());
    const ra = new Registry(a);
    const rb = new Registry(b);
    const r1 = await ra.register({ service: 'shard-0', id: 'one', url: 'http://one' }, { ttlMs: 3_000 });
    const d = await rb.discover('shard-0');
    cleanup.push(() => d.close());
    expect(ids(d.snapshot())).toEqual(['one']);
    const seen: string[] = [];
    const changed = (n: number) =>
      new Promise<void>((resolve) => {
        const off = d.onChange((_l, c) => {
          seen.push(`${c.type}:${c.id}`);
          if (seen.length >= n) (off(), resolve());
        });
      });
    let next = changed(1);
    const r2 = await ra.register({ service: 'shard-0', id: 'two', url: 'http://two' }, { ttlMs: 3_000 });
    await next;
    expect(ids(d.snapshot())).toEqual(['one', 'two']);
    next = changed(2);
    await r1.deregister();
    await next;
    expect(ids(d.snapshot())).toEqual(['two']);
    expect(seen).toEqual(['join:two', 'leave:one']);
    await ra.register({ service: 'other', id: 'x', url: 'http://x' }, { ttlMs: 3_000 }).then((r) => r.deregister());
    const late = await rb.discover('shard-0');
    cleanup.push(() => late.close());
    expect(ids(late.snapshot())).toEqual(['two']);
    await r2.deregister();
  });
});
