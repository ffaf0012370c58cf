/**
 * netns.ts with a real namespace (skipped with the reason when this machine cannot make one): a process on the test
 * host reaches a server on this machine's end of the link, not this machine's loopback; a cut link stops it, a heal
 * brings it back; destroy leaves no namespace, no link and no process behind.
 */
import { execFile, spawn } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { createHost, destroyAllHosts, hostsLeft, IP, netnsSkipReason } from './netns.ts';

const skipReason = await netnsSkipReason();
if (skipReason) console.warn(`netns tests skipped: ${skipReason}`);

const servers: Server[] = [];
afterAll(async () => {
  await destroyAllHosts();
  for (const s of servers) s.close();
});

/** Runs a short node script on the host (through its execArgs); resolves with its stdout and exit code. */
function onHost(args: string[], script: string): Promise<{ out: string; code: number | null; pid: number | undefined }> {
  return new Promise((resolve) => {
    const [cmd, ...rest] = [...args, process.execPath, '-e', script];
    const child = spawn(cmd, rest, { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.once('exit', (code) => resolve({ out: out.trim(), code, pid: child.pid }));
  });
}

/** A script that connects to host:port and prints "OK <its pid>" or "ERR <code>" (1.5 s connect timeout). */
const connectScript = (host: string, port: number) =>
  `const s=require('net').connect({host:'${host}',port:${port},timeout:1500});` +
  `s.on('connect',()=>{console.log('OK '+process.pid);s.destroy()});` +
  `s.on('timeout',()=>{console.log('ERR TIMEOUT');s.destroy()});s.on('error',e=>console.log('ERR '+e.code))`;

describe.skipIf(Boolean(skipReason))('netns test hosts', () => {
  it("reaches this machine's end of the link, not its loopback; cut stops it, heal brings it back; destroy leaves nothing", async () => {
    const h = await createHost('host-b');
    expect(h.ns).toMatch(new RegExp(`^rag-${process.pid}-\\d+$`));
    const server = createServer((s) => s.end());
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, h.hostIp, r));
    const port = (server.address() as { port: number }).port;

    const ok = await onHost(h.execArgs([]), connectScript(h.hostIp, port));
    expect(ok.out, 'the host could not reach the server on the link').toMatch(/^OK \d+$/);
    expect(Number(ok.out.split(' ')[1]), 'ip netns exec forked: the child pid is not the command (kill -9 would miss it)').toBe(ok.pid);
    const lo = await onHost(h.execArgs([]), connectScript('127.0.0.1', port));
    expect(lo.out, "the host's 127.0.0.1 is its own loopback, not this machine's").toBe('ERR ECONNREFUSED');

    await h.cut();
    expect(h.isCut).toBe(true);
    const cut = await onHost(h.execArgs([]), connectScript(h.hostIp, port));
    expect(cut.out, 'reached the server over a cut link').toMatch(/^ERR (ENETUNREACH|TIMEOUT|EHOSTUNREACH)$/);
    // this machine still reaches its own end's address (local) while the link is cut
    const local = await onHost([], connectScript(h.hostIp, port));
    expect(local.out).toMatch(/^OK/);

    await h.heal();
    const healed = await onHost(h.execArgs([]), connectScript(h.hostIp, port));
    expect(healed.out, 'the host could not reach the server after the heal').toMatch(/^OK/);

    // a process left running in the namespace is killed by destroy (else the namespace and its link would outlive it)
    const [cmd, ...args] = h.execArgs([process.execPath, '-e', 'setInterval(()=>{},1000)']);
    const sleeper = spawn(cmd, args, { stdio: 'ignore' });
    const gone = new Promise((r) => sleeper.once('exit', (_c, sig) => r(sig)));
    await new Promise((r) => setTimeout(r, 200));
    await h.destroy();
    expect(await gone).toBe('SIGKILL');
    expect(await hostsLeft()).toEqual([]);
    const links = (await promisify(execFile)(IP, ['-o', 'link', 'show'])).stdout;
    expect(links.includes(h.hostIf), `link ${h.hostIf} left behind`).toBe(false);
  });

  it('gives each host its own private /30 in 10.231.0.0/16', async () => {
    const a = await createHost('a');
    const b = await createHost('b');
    expect(a.hostIp).toMatch(/^10\.231\./);
    const subnet = (ip: string) => ip.split('.').slice(0, 3).join('.') + '.' + (Number(ip.split('.')[3]) & ~3);
    expect(subnet(a.nsIp)).toBe(subnet(a.hostIp));
    expect(subnet(b.hostIp), 'two hosts share a /30').not.toBe(subnet(a.hostIp));
    expect([a.hostIp, a.nsIp, b.hostIp, b.nsIp].length).toBe(new Set([a.hostIp, a.nsIp, b.hostIp, b.nsIp]).size);
    await destroyAllHosts();
    expect(await hostsLeft()).toEqual([]);
  });
});
