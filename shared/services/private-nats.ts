/**
 * A private nats-server (JetStream on) for the tests that need one on an address of their own: the network-namespace
 * tests (shared/services/jetstream-netns.test.ts, discovery-netns.test.ts) start it on this machine's end of a test
 * host's link, with a random port and a temporary store, so the shared server on 127.0.0.1:4222 is never touched.
 *
 *     const bin = natsServerBin();                       // undefined: skip the test with NATS_MISSING
 *     const nats = await startPrivateNats(bin!, host.hostIp, join(dir, 'js'));
 *     nats.url                                           // nats://10.231.0.1:41234
 *     await nats.stop();                                 // SIGTERM, SIGKILL after 3 s
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

export const NATS_MISSING = 'nats-server not found (set NATS_SERVER_BIN, or install nats-server)';

/** NATS_SERVER_BIN, else /usr/sbin/nats-server, else `nats-server` on PATH; undefined when none exists. */
export function natsServerBin(): string | undefined {
  const env = process.env.NATS_SERVER_BIN;
  if (env) return existsSync(env) ? env : undefined;
  if (existsSync('/usr/sbin/nats-server')) return '/usr/sbin/nats-server';
  const r = spawnSync('sh', ['-c', 'command -v nats-server'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

export interface PrivateNats {
  /** nats://<addr>:<port> */
  readonly url: string;
  readonly proc: ChildProcess;
  /** SIGTERM, then SIGKILL if it has not exited within 3 s. */
  stop(): Promise<void>;
}

/** Starts `nats-server -js` on `addr` with a random port and `storeDir`; resolves once it says it is ready. */
export function startPrivateNats(bin: string, addr: string, storeDir: string): Promise<PrivateNats> {
  return new Promise((resolve, reject) => {
    const proc = spawn(bin, ['-a', addr, '-p', '-1', '-js', '-sd', storeDir], { stdio: ['ignore', 'ignore', 'pipe'] });
    const alive = () => proc.exitCode === null && proc.signalCode === null;
    const stop = async () => {
      if (!alive()) return;
      const gone = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      await Promise.race([gone, sleep(3000)]);
      if (alive()) proc.kill('SIGKILL');
    };
    let log = '';
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`nats-server did not start within 8 s:\n${log}`));
    }, 8000);
    proc.stderr!.on('data', (d: Buffer) => {
      log += d.toString();
      const m = /Listening for client connections on (\S+):(\d+)/.exec(log);
      if (m && /Server is ready/.test(log)) {
        clearTimeout(timer);
        resolve({ url: `nats://${m[1]}:${m[2]}`, proc, stop });
      }
    });
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`nats-server exited (${code}):\n${log}`));
    });
  });
}
