/**
 * Test hosts: "another machine" for the lessons about the network, made of a Linux network namespace and a veth pair
 * (iproute2). Each host gets a private /30 from 10.231.0.0/16 (checked against every route and address on this
 * machine), its end of the link is the only interface besides its own loopback, so the only traffic it can send or
 * receive goes over that link to this machine's side of it. Cutting the link (`cut`: both ends down) is a partition;
 * `heal` brings it back (open TCP connections survive a short cut: the kernel retransmits). `cutFarEnd` downs the
 * host's end only (a vanished machine: this machine's packets to it are dropped silently, not refused). A host can
 * reach another address of this machine through `routeTo` (a server shared by several hosts), and `block` cuts it
 * from that address only (a partition from one server while the link stays up).
 *
 *   this machine ── <hostIf> 10.231.a.b+1/30 ══ veth ══ <nsIf> 10.231.a.b+2/30 ── namespace rag-<pid>-<n> ("host-b")
 *
 * A server a host must reach listens on `hostIp` (this machine's end of the link; also reachable from this machine
 * itself, while the link is cut too, since the address is local). Commands run on the host with `execArgs`:
 * `ip netns exec <ns> <cmd…>` (ip execs the command: the child's pid is the command's).
 *
 * Cleanup always runs: `destroy()` kills whatever still runs in the namespace (a namespace with a process in it
 * outlives `ip netns del`, and so would its link), deletes it and the link; `destroyAllHosts()` does it for every host
 * this process made (afterAll), and a process 'exit' hook does it synchronously for anything left. Needs root (or
 * CAP_SYS_ADMIN + CAP_NET_ADMIN) and iproute2: `netnsSkipReason()` says why not, for tests to skip with.
 */
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { RagError } from '../errors.ts';

const run = promisify(execFile);
export const IP = process.env.IP_BIN ?? 'ip';

async function ip(...args: string[]): Promise<string> {
  try {
    return (await run(IP, args, { timeout: 10_000 })).stdout;
  } catch (err) {
    const e = err as Error & { stderr?: string };
    throw new RagError('UNAVAILABLE', `${IP} ${args.join(' ')}: ${(e.stderr || e.message).trim()}`);
  }
}

export interface TestHost {
  /** The label it was made with ("host-b"), for messages. */
  readonly label: string;
  /** The namespace's name (rag-<pid>-<n>). */
  readonly ns: string;
  /** This machine's end of the link, and the host's end (interface names). */
  readonly hostIf: string;
  readonly nsIf: string;
  /** This machine's address on the link (listen here for the host to reach you), and the host's. */
  readonly hostIp: string;
  readonly nsIp: string;
  /** The command line that runs `cmd` on the host: ['ip', 'netns', 'exec', ns, ...cmd]. */
  execArgs(cmd: string[]): string[];
  /** Cuts the link (both ends down): nothing passes until `heal`. */
  cut(): Promise<void>;
  /**
   * Takes down the host's end only (the machine vanished: powered off, its cable pulled). This machine's end stays
   * up, so what it sends to the host is dropped silently (connects and calls hang) instead of "no route"; `heal`.
   */
  cutFarEnd(): Promise<void>;
  /** Brings both ends up again. */
  heal(): Promise<void>;
  readonly isCut: boolean;
  /**
   * Lets the host reach `addr`, another address of this machine (e.g. a server on another host's `hostIp`, shared by
   * several hosts): a /32 route over this host's link. Traffic to it stops while the link is cut (`heal` restores it).
   */
  routeTo(addr: string): Promise<void>;
  /**
   * Partitions the host from `addr` only (a route made by `routeTo`): the route becomes a blackhole in the host, so
   * what it sends there is dropped (as on a lost path) while the link stays up and this machine still reaches the
   * host. `unblock(addr)` puts the route back.
   */
  block(addr: string): Promise<void>;
  unblock(addr: string): Promise<void>;
  /** Kills what runs in the namespace, deletes it and the link. Idempotent. */
  destroy(): Promise<void>;
}

let probed: Promise<string | undefined> | undefined;

/** Why tests that make hosts must skip (not root, no iproute2, `ip netns add` refused), or undefined. */
export function netnsSkipReason(): Promise<string | undefined> {
  probed ??= (async () => {
    if (process.platform !== 'linux') return `network namespaces need Linux (this is ${process.platform})`;
    if (process.getuid?.() !== 0) return 'network namespaces need root (ip netns add): run the test as root';
    try {
      await run(IP, ['-V'], { timeout: 5000 });
    } catch (err) {
      return `iproute2's ip not found (${(err as Error).message}): install iproute2`;
    }
    const probe = `rag-${process.pid}-probe`;
    try {
      await ip('netns', 'add', probe);
      await ip('link', 'add', `r${process.pid}p0`, 'type', 'veth', 'peer', 'name', `r${process.pid}p1`, 'netns', probe);
    } catch (err) {
      return `cannot make a network namespace with a veth link here (no CAP_SYS_ADMIN/CAP_NET_ADMIN?): ${(err as Error).message}`;
    } finally {
      await ip('link', 'del', `r${process.pid}p0`).catch(() => {});
      await ip('netns', 'del', probe).catch(() => {});
    }
    return undefined;
  })();
  return probed;
}

const live = new Map<string, TestHost>();
let seq = 0;
let exitHook = false;

const toInt = (a: string) => a.split('.').reduce((n, x) => n * 256 + Number(x), 0) >>> 0;
const toIp = (n: number) => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');

/** Every IPv4 prefix this machine routes or owns (all tables), as [first, last] address ranges. */
async function usedRanges(): Promise<Array<[number, number]>> {
  const out: Array<[number, number]> = [];
  const text = (await ip('-4', 'route', 'show', 'table', 'all')) + '\n' + (await ip('-4', '-o', 'addr', 'show'));
  for (const m of text.matchAll(/(?:^|\s)(\d+\.\d+\.\d+\.\d+)(?:\/(\d+))?/g)) {
    const bits = m[2] === undefined ? 32 : Number(m[2]);
    if (bits === 0) continue; // default
    const base = toInt(m[1]) & (bits === 32 ? 0xffffffff : ~(0xffffffff >>> bits));
    out.push([base >>> 0, (base + 2 ** (32 - bits) - 1) >>> 0]);
  }
  return out;
}

/** A free /30 in 10.231.0.0/16 (a start that depends on the pid, so parallel runs rarely try the same one first). */
async function freeSubnet(): Promise<number> {
  const used = await usedRanges();
  const start = ((process.pid * 7 + seq * 13) % 16384) >>> 0;
  for (let i = 0; i < 16384; i++) {
    const base = (toInt('10.231.0.0') + ((start + i) % 16384) * 4) >>> 0;
    if (!used.some(([a, b]) => a <= base + 3 && base <= b)) return base;
  }
  throw new RagError('UNAVAILABLE', 'no free /30 left in 10.231.0.0/16');
}

function killNsSync(ns: string): void {
  try {
    const pids = execFileSync(IP, ['netns', 'pids', ns], { encoding: 'utf8', timeout: 5000 }).split(/\s+/).filter(Boolean);
    for (const p of pids) {
      try {
        process.kill(Number(p), 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  } catch {
    /* no such namespace */
  }
}

function onExit(): void {
  for (const h of live.values()) {
    killNsSync(h.ns);
    for (const args of [['link', 'del', h.hostIf], ['netns', 'del', h.ns]]) {
      try {
        execFileSync(IP, args, { stdio: 'ignore', timeout: 5000 });
      } catch {
        /* already gone */
      }
    }
  }
  live.clear();
}

/**
 * Makes a test host: a namespace rag-<pid>-<n>, a veth pair with a free private /30, both ends and the host's
 * loopback up. Undo with `destroy()` (or `destroyAllHosts()`).
 */
export function createHost(label = 'host'): Promise<TestHost> {
  // one at a time: a /30 is seen as taken only once its host has its addresses (parallel calls picked the same one)
  const made = creating.then(() => makeHost(label));
  creating = made.catch(() => {});
  return made;
}
let creating: Promise<unknown> = Promise.resolve();

async function makeHost(label: string): Promise<TestHost> {
  const n = ++seq;
  const ns = `rag-${process.pid}-${n}`;
  const hostIf = `r${process.pid}h${n}`.slice(0, 15);
  const nsIf = `r${process.pid}n${n}`.slice(0, 15);
  if (!exitHook) {
    exitHook = true;
    process.once('exit', onExit);
  }
  const base = await freeSubnet();
  const hostIp = toIp(base + 1);
  const nsIp = toIp(base + 2);
  let cutNow = false;
  let destroyed = false;
  const routes = new Map<string, boolean>(); // routeTo addresses → blocked
  const host: TestHost = {
    label,
    ns,
    hostIf,
    nsIf,
    hostIp,
    nsIp,
    execArgs: (cmd) => [IP, 'netns', 'exec', ns, ...cmd],
    get isCut() {
      return cutNow;
    },
    async cut() {
      await ip('link', 'set', hostIf, 'down');
      await ip('-n', ns, 'link', 'set', nsIf, 'down');
      cutNow = true;
    },
    async cutFarEnd() {
      await ip('-n', ns, 'link', 'set', nsIf, 'down');
      cutNow = true;
    },
    async heal() {
      await ip('link', 'set', hostIf, 'up');
      await ip('-n', ns, 'link', 'set', nsIf, 'up');
      // the link going down took the routes over it with it
      for (const [addr, blocked] of routes) if (!blocked) await ip('-n', ns, 'route', 'replace', `${addr}/32`, 'via', hostIp, 'dev', nsIf);
      cutNow = false;
    },
    async routeTo(addr) {
      routes.set(addr, false);
      if (!cutNow) await ip('-n', ns, 'route', 'replace', `${addr}/32`, 'via', hostIp, 'dev', nsIf);
    },
    async block(addr) {
      routes.set(addr, true);
      await ip('-n', ns, 'route', 'replace', 'blackhole', `${addr}/32`);
    },
    async unblock(addr) {
      routes.set(addr, false);
      if (cutNow) await ip('-n', ns, 'route', 'del', 'blackhole', `${addr}/32`);
      else await ip('-n', ns, 'route', 'replace', `${addr}/32`, 'via', hostIp, 'dev', nsIf);
    },
    async destroy() {
      if (destroyed) return;
      destroyed = true;
      killNsSync(ns);
      await ip('link', 'del', hostIf).catch(() => {});
      await ip('netns', 'del', ns).catch(() => {});
      live.delete(ns);
    },
  };
  live.set(ns, host);
  try {
    await ip('netns', 'add', ns);
    await ip('link', 'add', hostIf, 'type', 'veth', 'peer', 'name', nsIf, 'netns', ns);
    await ip('addr', 'add', `${hostIp}/30`, 'dev', hostIf);
    await ip('-n', ns, 'addr', 'add', `${nsIp}/30`, 'dev', nsIf);
    await ip('link', 'set', hostIf, 'up');
    await ip('-n', ns, 'link', 'set', nsIf, 'up');
    await ip('-n', ns, 'link', 'set', 'lo', 'up');
  } catch (err) {
    await host.destroy();
    throw err;
  }
  return host;
}

/** Destroys every host this process made and has not destroyed (afterAll). */
export async function destroyAllHosts(): Promise<void> {
  for (const h of [...live.values()]) await h.destroy();
}

/** The namespaces this process made that still exist (tests check none is left). */
export async function hostsLeft(): Promise<string[]> {
  const names = (await ip('netns', 'list')).split('\n').map((l) => l.split(' ')[0]);
  return names.filter((x) => x.startsWith(`rag-${process.pid}-`));
}
