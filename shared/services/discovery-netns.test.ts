/**
 * Service discovery (discovery.ts; lesson 03's after.ts) across hosts: each instance runs as a process on another
 * "machine", a network namespace with one veth link to this one (netns.ts), and the test cuts links.
 *
 *   this machine: private nats-server -js (the registry: a KV bucket) on the address of a "registry" link
 *                 (10.231.x.y, random port, temp store dir); the caller: a DiscoveredClient over the live instances
 *                 (the gateway's side), 4 callers sending reads with a 400 ms deadline, a 10 ms pause between calls
 *   host-a/b/c:   an instance each (03-service-discovery/instance-process.ts running after.ts's startInstance under
 *                 `ip netns exec`): an http-rpc server on the host's own address, registered with TTL 1 s and
 *                 heartbeats every 300 ms through a route over its link to the registry's address
 *
 * It shows, with failed requests counted:
 *   1. c's link down, both ends (`cut`; c alive, unreachable): its entry expires after the TTL (an 'expire', not a
 *      'leave': nobody deleted it); calls to a and b keep succeeding; a new connection to c fails at once (no route
 *      on this machine's end: UNAVAILABLE, retried on a or b), so the only failed calls are those in flight on c's
 *      open connections at the cut (they hang until their deadline; DEADLINE_EXCEEDED is not retried elsewhere,
 *      discovery.ts's rule); none fails after the drop.
 *   2. heal: c's buffered heartbeat gets through once TCP retransmits, c re-registers and gets traffic again.
 *   2b. c's machine vanishes (`cutFarEnd`: its end down, ours up, as when a remote machine dies): nothing is refused
 *      and nothing says "no route", so every call picked for c while it is listed waits for its deadline and fails
 *      (not retried): failed requests for the whole TTL window, and callers held up. (Before http-rpc.ts settled on
 *      the abort, a call waiting for a connect to c outlived its deadline until the connect failed or the heal:
 *      undici looks at the signal only once connected, nodejs/undici#386.) Heal: c re-registers.
 *   3. b partitioned from the registry only (a blackhole route to the registry's address in b's namespace; b's link
 *      stays up and this machine reaches b): b is alive and serving, yet it is dropped after the TTL, because
 *      discovery believes heartbeats, not reachability; no request fails, a and c take all the calls, a direct call
 *      to b still succeeds. After the unblock b re-registers and gets traffic again.
 * Only this machine's link addresses and the namespaces are ever reached; the shared NATS server (127.0.0.1:4222)
 * is not touched. Skipped with the reason without root / network namespaces or without nats-server
 * (NATS_SERVER_BIN, default /usr/sbin/nats-server, then PATH).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../util/paths.ts';
import { DiscoveredClient, natsKvBackend, Registry, type Discovery, type DiscoveryChange, type NatsKvBackend } from './discovery.ts';
import { httpRpcClient } from './http-rpc.ts';
import { createHost, destroyAllHosts, hostsLeft, netnsSkipReason, type TestHost } from './netns.ts';
import { NATS_MISSING, natsServerBin, startPrivateNats, type PrivateNats } from './private-nats.ts';
import { isRpcError, type RpcClient } from './rpc.ts';

const bin = natsServerBin();
const skipReason = (await netnsSkipReason()) ?? (bin ? undefined : NATS_MISSING);
if (skipReason) console.warn(`discovery-netns tests skipped: ${skipReason}`);

const LESSON = join(REPO_ROOT, 't4_scalable_architecture', '03-service-discovery');
const SERVICE = 'shard-0';
const TTL = 1000;
const HEARTBEAT = 300;
const DEADLINE = 400;
const CALLERS = 4;
const GAP = 10;
const BUCKET = `disc-netns-${process.pid}`;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
async function until(cond: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) return false;
    await sleep(10);
  }
  return true;
}

interface Proc {
  id: string;
  host: TestHost;
  child: ChildProcess;
  url: string;
  stderr: () => string;
}

let registryHost: TestHost;
let natsAddr = '';
let natsUrl = '';
let nats: PrivateNats | undefined;
let dir = '';
let backend: NatsKvBackend | undefined;
let discovery: Discovery | undefined;
let client: DiscoveredClient | undefined;
const procs = new Map<string, Proc>();


/** One instance on its host: lesson 03's instance-process.ts (after.ts) under `ip netns exec`, spoken to over IPC. */
async function startInstance(host: TestHost, id: string): Promise<Proc> {
  await host.routeTo(natsAddr);
  const spec = { impl: join(LESSON, 'after.ts'), service: SERVICE, id, bucket: BUCKET, ttlMs: TTL, heartbeatMs: HEARTBEAT, drainGraceMs: 0 };
  const [cmd, ...args] = host.execArgs([process.execPath, '--import', 'tsx', join(LESSON, 'instance-process.ts')]);
  const child = spawn(cmd, args, {
    cwd: REPO_ROOT,
    env: { ...process.env, DISCOVERY_CHILD: JSON.stringify(spec), NATS_URL: natsUrl, RAG_BIND_HOST: host.nsIp },
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const wait = (t: string) =>
    new Promise<{ url?: string }>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`instance ${id} on ${host.ns}: no '${t}' within 20 s:\n${stderr}`)), 20_000);
      const onMsg = (m: { t: string; url?: string; message?: string }) => {
        if (m.t !== t && m.t !== 'error') return;
        clearTimeout(timer);
        child.off('message', onMsg);
        if (m.t === 'error') reject(new Error(`instance ${id} on ${host.ns}: ${m.message}`));
        else resolve(m);
      };
      child.on('message', onMsg);
      child.once('exit', (code) => reject(new Error(`instance ${id} on ${host.ns} exited (${code}):\n${stderr}\n${spawnSync('sh', ['-c', `ip -n ${host.ns} route; ip -n ${host.ns} -4 -o addr; ip -4 -o addr | grep 10.231; ip route | grep 10.231`], { encoding: 'utf8' }).stdout} nats ${natsUrl}`)));
    });
  const proc: Proc = { id, host, child, url: '', stderr: () => stderr };
  procs.set(id, proc);
  await wait('loaded');
  const ready = wait('ready');
  child.send({ t: 'start' });
  proc.url = (await ready).url!;
  return proc;
}

beforeAll(async () => {
  if (skipReason) return;
  dir = mkdtempSync(join(tmpdir(), 'discnetns-'));
  registryHost = await createHost('registry');
  natsAddr = registryHost.hostIp;
  nats = await startPrivateNats(bin!, natsAddr, join(dir, 'js'));
  natsUrl = nats.url;
  backend = await natsKvBackend({ servers: natsUrl, bucket: BUCKET });
}, 30_000);

afterAll(async () => {
  await client?.close().catch(() => {});
  await discovery?.close().catch(() => {});
  await backend?.close().catch(() => {});
  for (const p of procs.values()) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
  await nats?.stop();
  await destroyAllHosts();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

interface Call {
  /** When the call was started and when it ended (performance.now()). */
  t: number;
  end: number;
  /** The instance that answered, or the one the failed call was on. */
  id?: string;
  ok: boolean;
  error?: string;
}

describe.skipIf(Boolean(skipReason))('service discovery across hosts (network namespaces, cut links)', () => {
  it('drops a cut instance after the TTL with no failure after the drop, takes it back after the heal; drops an instance cut from the registry only though it is alive', { timeout: 60_000 }, async () => {
    const hosts: TestHost[] = [];
    for (const id of ['a', 'b', 'c']) hosts.push(await createHost(`host-${id}`)); // one at a time: each picks a free /30
    const [a, b, c] = await Promise.all(['a', 'b', 'c'].map((id, i) => startInstance(hosts[i], id)));
    const byUrl = new Map([a, b, c].map((p) => [p.url, p.id]));
    for (const p of [a, b, c]) expect(p.url, `instance ${p.id} does not listen on its host's address`).toBe(`http://${p.host.nsIp}:${new URL(p.url).port}`);

    const registry = new Registry(backend!);
    discovery = await registry.discover(SERVICE, { sweepMs: 25 });
    const changes: DiscoveryChange[] = [];
    discovery.onChange((_live, change) => changes.push(change));
    const listed = () => discovery!.snapshot().map((i) => i.id).join(',');
    expect(await until(() => listed() === 'a,b,c', 10_000), `the registry lists ${listed()} instead of a,b,c`).toBe(true);
    client = new DiscoveredClient(discovery, { connect: (inst) => httpRpcClient(inst.url, { connections: 4 }), idempotent: ['search'] });

    // the steady load
    const calls: Call[] = [];
    let loading = true;
    const callers = Array.from({ length: CALLERS }, async () => {
      while (loading) {
        const t = performance.now();
        try {
          const r = await client!.call<{ id: string }>('search', { q: 'x' }, { deadlineMs: DEADLINE });
          calls.push({ t, end: performance.now(), id: r.id, ok: true });
        } catch (err) {
          const target = isRpcError(err) ? err.target : undefined;
          calls.push({ t, end: performance.now(), id: target ? byUrl.get(target) : undefined, ok: false, error: isRpcError(err) ? `${err.code}: ${err.message}` : String(err) });
        }
        await sleep(GAP);
      }
    });
    const answered = (id: string, from: number, to = Infinity) => calls.filter((x) => x.ok && x.id === id && x.t >= from && x.t < to).length;
    /** Calls that failed (ended) between `from` and `to`. */
    const failedIn = (from: number, to = Infinity) => calls.filter((x) => !x.ok && x.end >= from && x.end < to);
    const errorsOf = (xs: Call[]) => [...new Set(xs.map((x) => x.error!.replace(/ on \S+/, '')))].join(' | ') || 'none';
    const changeOf = async (type: DiscoveryChange['type'], id: string, after: number, ms: number) => {
      await until(() => changes.some((x) => x.type === type && x.id === id && x.at >= after), ms);
      return changes.find((x) => x.type === type && x.id === id && x.at >= after);
    };
    const alive = (p: Proc) => p.child.exitCode === null && p.child.signalCode === null;
    const others = (p: Proc) => [a, b, c].filter((q) => q !== p).map((q) => q.id);

    /** Drops `p` from discovery by `cut` (not earlier than its last heartbeat allows); checks the calls; heals; rejoins. */
    async function partition(p: Proc, what: string, cut: () => Promise<void>, heal: () => Promise<void>) {
      const retries0 = client!.stats.retries;
      await cut();
      const tCut = performance.now();
      const drop = await changeOf('expire', p.id, tCut, 5000);
      expect(drop, `${p.id} (${what}) was not dropped within 5 s; changes: ${JSON.stringify(changes)}`).toBeDefined();
      expect(changes.some((x) => x.type === 'leave' && x.id === p.id && x.at >= tCut), `${p.id} "left": an instance cut off cannot deregister`).toBe(false);
      const dropMs = drop!.at - tCut;
      // not before its last heartbeat (≤ one interval before the cut) has aged past the TTL; not long after the TTL
      expect(dropMs, `${p.id} dropped ${dropMs.toFixed(0)} ms after the cut, before its last heartbeat could expire`).toBeGreaterThanOrEqual(TTL - 2 * HEARTBEAT);
      expect(dropMs, `${p.id} dropped only ${dropMs.toFixed(0)} ms after the cut (TTL ${TTL} ms)`).toBeLessThanOrEqual(TTL + 1000);
      expect(alive(p), `${p.id}'s process died: ${p.stderr()}`).toBe(true);
      await sleep(DEADLINE + 200); // every call picked for it before the drop has ended by now
      const tHeal = performance.now();
      const failed = failedIn(tCut, tHeal);
      const total = calls.filter((x) => x.end >= tCut && x.end < tHeal).length;
      const retries = client!.stats.retries - retries0;
      expect(failed.filter((x) => x.id !== p.id).map((x) => x.error), `calls to ${others(p).join(' or ')} failed while ${p.id} was cut off (${what})`).toEqual([]);
      expect(failed.filter((x) => x.t >= drop!.at).map((x) => x.error), `calls failed after ${p.id} was dropped from discovery`).toEqual([]);
      expect(calls.filter((x) => x.t >= drop!.at + 50 && x.t < tHeal && x.id === p.id).length, `${p.id} was picked after it was dropped`).toBe(0);
      const [o1, o2] = others(p);
      expect(answered(o1, tCut, tHeal) + answered(o2, tCut, tHeal), `${o1} and ${o2} answered nothing while ${p.id} was cut off`).toBeGreaterThan(0);
      await heal();
      const join = await changeOf('join', p.id, tHeal, 15_000);
      expect(join, `${p.id} did not re-register within 15 s of the heal: ${p.stderr()}`).toBeDefined();
      expect(await until(() => answered(p.id, join!.at) >= 5, 5000), `${p.id} re-registered but got no traffic`).toBe(true);
      const first = calls.find((x) => x.ok && x.id === p.id && x.t >= join!.at)!;
      return { dropMs, failed, total, retries, tCut, tHeal, rejoinMs: join!.at - tHeal, firstMs: first.end - tHeal };
    }
    const say = (m: string) => console.log(`[discovery-netns] ${m}`);

    try {
      // 0. all three linked: every instance answers, nothing fails
      const t0 = performance.now();
      await sleep(600);
      for (const p of [a, b, c]) expect(answered(p.id, t0), `instance ${p.id} answered no call with every link up`).toBeGreaterThanOrEqual(5);
      expect(failedIn(0).map((x) => x.error), 'calls failed with every link up').toEqual([]);

      // 1. c's link down (both ends): c is alive but unreachable and cannot heartbeat. This machine's end is down too,
      // so a new connection to c fails at once (no route: UNAVAILABLE, retried on a or b); only the calls in flight
      // on c's open connections at the cut hang until their deadline (DEADLINE_EXCEEDED is not retried elsewhere).
      const down = await partition(c, 'link down', () => c.host.cut(), () => c.host.heal());
      say(
        `c's link down: dropped (expire) ${down.dropMs.toFixed(0)} ms after the cut (TTL ${TTL} ms, heartbeat ${HEARTBEAT} ms); ` +
          `${down.failed.length} of ${down.total} requests failed (in flight on c at the cut: ${errorsOf(down.failed)}), ${down.retries} retried on a or b; ` +
          `after the heal c re-registered in ${down.rejoinMs.toFixed(0)} ms, first call answered at ${down.firstMs.toFixed(0)} ms`,
      );

      // 2. c's machine vanishes (its end of the link down, ours up): nothing is refused, nothing says "no route":
      // every call picked for c while it is still listed hangs until its deadline and fails (not retried).
      const gone = await partition(c, 'host vanished', () => c.host.cutFarEnd(), () => c.host.heal());
      expect(gone.failed.length, 'no call picked for the vanished host failed: its calls should hang until their deadline').toBeGreaterThan(0);
      expect(gone.failed.filter((x) => !x.error!.startsWith('DEADLINE_EXCEEDED')).map((x) => x.error), 'a call to the vanished host failed otherwise than by its deadline').toEqual([]);
      // a figure, not an assertion (timings): the deadline holds while a connect to the vanished host hangs
      const longest = Math.max(...calls.filter((x) => x.id === 'c' && x.end >= gone.tCut && x.end < gone.tHeal).map((x) => x.end - x.t));
      say(
        `c vanished (its end down): dropped (expire) ${gone.dropMs.toFixed(0)} ms after the cut; the longest call to c took ${longest.toFixed(0)} ms (deadline ${DEADLINE} ms); ` +
          `${gone.failed.length} of ${gone.total} requests failed (${errorsOf(gone.failed)}), ${gone.retries} retried; ` +
          `after the heal c re-registered in ${gone.rejoinMs.toFixed(0)} ms, first call answered at ${gone.firstMs.toFixed(0)} ms`,
      );

      // 3. b cut from the registry only (a blackhole route to its address in b's namespace; the link stays up): b
      // is alive and reachable, yet dropped after the TTL, because discovery believes heartbeats, not reachability.
      // b serves whoever calls it directly; the DiscoveredClient sends it nothing (a and c carry the load), so no
      // request fails, until it can heartbeat again and re-registers.
      let directOk = false;
      const reg = await partition(b, 'cut from the registry only', () => b.host.block(natsAddr), async () => {
        expect(alive(b), `b's process died: ${b.stderr()}`).toBe(true);
        const direct: RpcClient = httpRpcClient(b.url, { connections: 1 });
        try {
          expect(await direct.call<{ id: string }>('search', {}, { deadlineMs: 2000 }), 'b did not answer a direct call while cut from the registry').toMatchObject({ id: 'b' });
          directOk = true;
        } finally {
          await direct.close();
        }
        await b.host.unblock(natsAddr);
      });
      expect(directOk).toBe(true);
      expect(reg.failed.map((x) => x.error), 'calls failed while b was cut from the registry (b was still serving)').toEqual([]);
      say(
        `b cut from the registry only (alive, reachable): dropped (expire) ${reg.dropMs.toFixed(0)} ms after the block; ` +
          `${reg.failed.length} of ${reg.total} requests failed; a direct call to b answered; after the unblock b re-registered in ${reg.rejoinMs.toFixed(0)} ms`,
      );
      expect(failedIn(reg.tHeal).map((x) => x.error), 'calls failed after the last heal').toEqual([]);
      say(`in all: ${calls.length} requests, ${calls.filter((x) => !x.ok).length} failed, ${client.stats.retries} retried elsewhere`);
    } finally {
      loading = false;
      await Promise.all(callers);
    }

    // a graceful stop (SIGTERM: deregister, then drain) is a 'leave', at once, not an 'expire' after the TTL
    const tStop = performance.now();
    for (const p of [a, b, c]) {
      const exited = new Promise((r) => p.child.once('exit', r));
      p.child.kill('SIGTERM');
      await Promise.race([exited, sleep(5000)]);
    }
    const left = () => changes.filter((x) => x.at >= tStop).map((x) => `${x.type} ${x.id}`).sort().join(', ');
    await until(() => left() === 'leave a, leave b, leave c', 3000);
    expect(left(), 'SIGTERM did not make each instance leave the registry').toBe('leave a, leave b, leave c');
    await client.close();
    await discovery.close();
    client = undefined;
    discovery = undefined;
    await destroyAllHosts();
    expect(await hostsLeft()).toEqual([]);
  });
});
