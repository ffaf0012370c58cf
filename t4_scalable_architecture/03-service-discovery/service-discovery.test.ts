/**
 * Checkpoint for 03-service-discovery. `npm run checkpoint -- 03-service-discovery` runs it against exercise.ts;
 * plain `npx vitest run` checks before.ts (the static list: "serves every call" and "spreads the calls" apply) and
 * after.ts.
 *
 * The registry is in-process (`memoryBackend`) on a `ManualClock`: TTLs, heartbeats and expiry move only when the
 * test advances the clock, so "the entry expired" is a count, not a race. The instances are real http-rpc servers on
 * 127.0.0.1 (port 0); each answers `search` (a read, idempotent) with its id and records every `append` (a write)
 * it applies. A kill -9 is played by closing the instance's port and cutting its connections, and by `sever`ing it
 * from the registry (a dead process sends no heartbeat and no goodbye). Failed requests are counted.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { implementations } from '../../shared/lab/checkpoint.ts';
import { ManualClock, memoryBackend, Registry, type Discovery } from '../../shared/services/discovery.ts';
import { isRpcError, type RpcHandler } from '../../shared/services/rpc.ts';
import type { RunningInstance, ServiceClient } from './after.ts';

type Mod = typeof import('./after.ts');

const TTL = 1_000;
const HEARTBEAT = 300;
const SERVICE = 'shard-0';

const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c().catch(() => {});
});

interface World {
  clock: ManualClock;
  backend: ReturnType<typeof memoryBackend>;
  registry: Registry;
  /** The test's own view of the registry (a watcher with a 50 ms expiry sweep). */
  watch: Discovery;
  applied: string[];
  crashAfterApply: Set<string>;
}

async function world(): Promise<World> {
  const clock = new ManualClock();
  const backend = memoryBackend(clock);
  const registry = new Registry(backend, { clock });
  const watch = await registry.discover(SERVICE, { sweepMs: 50 });
  cleanup.push(() => registry.close(), () => watch.close());
  return { clock, backend, registry, watch, applied: [], crashAfterApply: new Set() };
}

function handler(w: World, id: string, holder: { inst?: RunningInstance }): RpcHandler {
  return async (method, req) => {
    if (method === 'append') {
      w.applied.push(`${id}:${(req as { v: string }).v}`);
      if (w.crashAfterApply.has(id)) {
        kill(w, holder.inst!); // dies after applying the write, before answering
        await new Promise((r) => setTimeout(r, 10));
      }
      return { ok: true };
    }
    await new Promise((r) => setTimeout(r, 2)); // a little work: calls are in flight when an instance leaves
    return { id };
  };
}

/** kill -9 as the world sees it: the port closes, open connections are cut, the registry hears nothing more. */
function kill(w: World, inst: RunningInstance): void {
  w.backend.sever(SERVICE, inst.id);
  inst.server.server.close();
  inst.server.server.closeAllConnections();
}

async function settle<T>(p: Promise<T>): Promise<{ value?: T; error?: unknown }> {
  try {
    return { value: await p };
  } catch (error) {
    return { error };
  }
}

const describeErr = (e: unknown) => (isRpcError(e) ? `${e.code}: ${e.message}` : e instanceof Error ? e.message : String(e));

describe.each(await implementations<Mod>(import.meta.url))('%s', (name, impl) => {
  async function start(w: World, id: string): Promise<RunningInstance> {
    const holder: { inst?: RunningInstance } = {};
    const inst = await impl.startInstance(w.registry, { service: SERVICE, id, handler: handler(w, id, holder), ttlMs: TTL, heartbeatMs: HEARTBEAT, drainGraceMs: 20 });
    holder.inst = inst;
    cleanup.push(() => inst.stop());
    return inst;
  }

  async function client(w: World): Promise<ServiceClient> {
    const c = await impl.createClient(w.registry, SERVICE, { idempotent: ['search'], connections: 2 });
    cleanup.push(() => c.close());
    return c;
  }

  /** `n` sequential reads; returns who answered and the failures. */
  async function reads(c: ServiceClient, n: number) {
    const by = new Map<string, number>();
    const errors: unknown[] = [];
    for (let i = 0; i < n; i++) {
      const r = await settle(c.call<{ id: string }>('search', { q: i }));
      if (r.error !== undefined) errors.push(r.error);
      else by.set(r.value!.id, (by.get(r.value!.id) ?? 0) + 1);
    }
    return { by, errors };
  }

  it('serves every call and spreads the calls over the instances', async () => {
    const w = await world();
    for (const id of ['a', 'b', 'c']) await start(w, id);
    const c = await client(w);
    const { by, errors } = await reads(c, 30);
    expect(errors.length, `${errors.length} of 30 calls failed with every instance up: ${describeErr(errors[0])}`).toBe(0);
    for (const id of ['a', 'b', 'c']) expect(by.get(id) ?? 0, `instance ${id} answered ${by.get(id) ?? 0} of 30 calls`).toBeGreaterThanOrEqual(5);
  });

  describe.skipIf(name === 'before')('instances join and leave', () => {
    it('sends a new instance its share of the calls as soon as it has registered', async () => {
      const w = await world();
      await start(w, 'a');
      await start(w, 'b');
      const c = await client(w);
      await reads(c, 6);
      await start(w, 'c');
      const { by } = await reads(c, 30);
      expect(
        by.get('c') ?? 0,
        `instance c joined and received ${by.get('c') ?? 0} of 30 calls: the caller still uses the list it read at start`,
      ).toBeGreaterThanOrEqual(5);
    });

    it('keeps a live instance listed under load: its heartbeats refresh the entry before the TTL runs out', async () => {
      const w = await world();
      for (const id of ['a', 'b']) await start(w, id);
      const c = await client(w);
      const errors: unknown[] = [];
      for (let step = 0; step < 10; step++) {
        await w.clock.advance(TTL / 2);
        errors.push(...(await reads(c, 4)).errors);
        const listed = w.watch.snapshot().map((i) => i.id);
        for (const id of ['a', 'b']) {
          expect(
            listed.includes(id),
            `instance ${id} dropped out of discovery after ${w.clock.now()} ms though it is alive and serving: its entry expired ` +
              `(no heartbeat refreshed it within the ${TTL} ms TTL)`,
          ).toBe(true);
        }
      }
      expect(errors.length, `${errors.length} of 40 calls failed while both instances were up: ${describeErr(errors[0])}`).toBe(0);
    });

    it('a graceful leave under load: deregister first, then drain; zero failed requests', async () => {
      const w = await world();
      const [, b] = [await start(w, 'a'), await start(w, 'b'), await start(w, 'c')];
      const c = await client(w);
      let listeningAtLeave: boolean | undefined;
      w.watch.onChange((_l, ch) => {
        if (ch.id === 'b' && listeningAtLeave === undefined) listeningAtLeave = b.server.server.listening;
      });
      let running = true;
      let sent = 0;
      const failures: unknown[] = [];
      const worker = async (k: number) => {
        for (let i = 0; running; i++) {
          sent++;
          const r = await settle(i % 4 === 3 ? c.call('append', { v: `${k}-${i}` }) : c.call('search', { q: i }));
          if (r.error !== undefined) failures.push(r.error);
        }
      };
      const workers = [0, 1, 2, 3, 4, 5].map(worker);
      while (sent < 40) await new Promise((r) => setTimeout(r, 1));
      const retriesBefore = c.stats?.retries ?? 0;
      await b.stop();
      const retried = (c.stats?.retries ?? 0) - retriesBefore;
      const at = sent;
      while (sent < at + 40) await new Promise((r) => setTimeout(r, 1));
      running = false;
      await Promise.all(workers);
      expect(listeningAtLeave, 'instance b never left the registry: its graceful stop did not deregister it').not.toBe(undefined);
      expect(
        listeningAtLeave,
        'instance b stopped taking calls before it left the registry: callers still picked it and their calls were refused ' +
          `(${c.stats ? `${retried} retried on another instance during the leave; ` : ''}failed requests for any caller that does not retry); deregister first, then drain`,
      ).toBe(true);
      expect(failures.length, `${failures.length} of ${sent} requests failed during b's graceful leave: ${describeErr(failures[0])}`).toBe(0);
    });

    it('a kill -9: the dead instance stays listed until its TTL passes; reads picked for it are retried on another instance', async () => {
      const w = await world();
      const [a] = [await start(w, 'a'), await start(w, 'b'), await start(w, 'c')];
      const c = await client(w);
      await reads(c, 6);
      kill(w, a);
      const during = await reads(c, 30);
      expect(w.watch.snapshot().map((i) => i.id), 'the killed instance left the registry before its TTL passed').toContain('a');
      expect(
        during.errors.length,
        `${during.errors.length} of 30 reads failed while the killed instance was still listed (the ${TTL} ms TTL window): ` +
          `a read that finds its instance gone must be retried once on another instance (${describeErr(during.errors[0])})`,
      ).toBe(0);
      await w.clock.advance(TTL + 100);
      expect(w.watch.snapshot().map((i) => i.id), `the killed instance is still listed ${TTL + 100} ms later`).not.toContain('a');
      const after = await reads(c, 30);
      expect(after.errors.length, `${after.errors.length} of 30 reads failed after the killed instance expired: ${describeErr(after.errors[0])}`).toBe(0);
    });

    it('never sends a write twice: a write whose instance died after applying it fails, it is not retried elsewhere', async () => {
      const w = await world();
      await start(w, 'x');
      await start(w, 'y');
      const c = await client(w);
      w.crashAfterApply.add('x').add('y');
      const r = await settle(c.call('append', { v: 'once' }));
      expect(
        w.applied.length,
        `the write append was applied ${w.applied.length} times (${w.applied.join(', ')}): it was retried on another instance after ` +
          `the first had run it; only a call that was never processed, or an idempotent read, may be sent again`,
      ).toBe(1);
      expect(isRpcError(r.error, 'UNAVAILABLE'), `the write's caller got ${r.error === undefined ? 'a success' : describeErr(r.error)}, not UNAVAILABLE (outcome unknown)`).toBe(true);
    });
  });
});
