/**
 * One lab container, started and waited for: `docker run -d` with the service port published on 127.0.0.1 at a port
 * the OS picks, then `GET /readyz` polled until 200. Used by the image test and the lesson's bench (start-up to ready).
 *
 *     const c = await runContainer({ image: 'rag-lab/rag:multistage', name: 'ragl10-x', command: ['embedder'],
 *                                    readOnly: true, volume: 'ragl10-x' });
 *     const ms = await c.waitReady(120_000);    // ms from `docker run` to the first 200 of /readyz
 *     await c.remove();                         // the container, and the volume if this call created it
 */
import { docker } from './rootfs.ts';

export interface RunOptions {
  image: string;
  /** Container name (use your lesson's prefix). */
  name: string;
  /** Command after the image (the entrypoint's service: ['embedder']). */
  command?: string[];
  /** The port the service listens on in the container. Default 8080. */
  port?: number;
  /** `--read-only` with a tmpfs at /tmp. Default false. */
  readOnly?: boolean;
  /** A named volume mounted at /data (created by docker when missing; removed by `remove()` then). */
  volume?: string;
  env?: Record<string, string>;
  /** Extra `docker run` flags. */
  flags?: string[];
  log?: (line: string) => void;
}

export interface RunningContainer {
  name: string;
  /** http://127.0.0.1:<published port> */
  url: string;
  /** performance.now() just before `docker run`. */
  startedAt: number;
  /** Resolves with the ms from `docker run` to the first 200 of /readyz; rejects (with the container's log tail) on timeout or exit. */
  waitReady(timeoutMs: number): Promise<number>;
  logs(): Promise<string>;
  /** Removes the container (and the volume it created). Never throws. */
  remove(): Promise<void>;
}

export async function runContainer(o: RunOptions): Promise<RunningContainer> {
  const port = o.port ?? 8080;
  const volumeExisted = o.volume ? (await docker(['volume', 'inspect', o.volume], { allowFail: true })).code === 0 : true;
  const args = ['run', '-d', '--name', o.name, '-p', `127.0.0.1::${port}`];
  if (o.readOnly) args.push('--read-only', '--tmpfs', '/tmp:rw,size=64m');
  if (o.volume) args.push('-v', `${o.volume}:/data`);
  for (const [k, v] of Object.entries(o.env ?? {})) args.push('-e', `${k}=${v}`);
  args.push(...(o.flags ?? []), o.image, ...(o.command ?? []));
  await docker(['rm', '-f', o.name], { allowFail: true });
  const startedAt = performance.now();
  await docker(args);
  const published = await docker(['port', o.name, `${port}/tcp`], { allowFail: true });
  if (published.code !== 0) {
    // the container exited at once (a port is published only while it runs): say why, leave nothing behind
    const r = await docker(['logs', '--tail', '30', o.name], { allowFail: true });
    await docker(['rm', '-f', '-v', o.name], { allowFail: true });
    if (o.volume && !volumeExisted) await docker(['volume', 'rm', '-f', o.volume], { allowFail: true });
    throw new Error(`container ${o.name} (${o.image}) exited at start:\n${(r.stdout + r.stderr).trim() || published.stderr.trim()}`);
  }
  const mapped = published.stdout.trim().split('\n')[0] ?? '';
  const url = `http://${mapped.replace('0.0.0.0', '127.0.0.1')}`;
  o.log?.(`container ${o.name} (${o.image} ${(o.command ?? []).join(' ')}) at ${url}`);
  const logs = async () => {
    const r = await docker(['logs', '--tail', '30', o.name], { allowFail: true });
    return (r.stdout + r.stderr).trim();
  };
  return {
    name: o.name,
    url,
    startedAt,
    logs,
    async waitReady(timeoutMs: number): Promise<number> {
      const until = Date.now() + timeoutMs;
      // docker-proxy accepts on the published port before the service listens and may hold the connection: each
      // attempt has its own ref'd timer (AbortSignal.timeout's is unref'd, and a wait on nothing but it ends the process)
      while (Date.now() < until) {
        const ac = new AbortController();
        const t = setTimeout(() => ac.abort(), 1000);
        try {
          const res = await fetch(`${url}/readyz`, { signal: ac.signal });
          await res.body?.cancel();
          if (res.status === 200) return performance.now() - startedAt;
        } catch {
          /* not listening yet */
        } finally {
          clearTimeout(t);
        }
        const state = (await docker(['inspect', '-f', '{{.State.Running}}', o.name], { allowFail: true })).stdout.trim();
        if (state === 'false') throw new Error(`container ${o.name} exited before it was ready:\n${await logs()}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`container ${o.name} not ready within ${timeoutMs} ms:\n${await logs()}`);
    },
    async remove(): Promise<void> {
      await docker(['rm', '-f', '-v', o.name], { allowFail: true });
      if (o.volume && !volumeExisted) await docker(['volume', 'rm', '-f', o.volume], { allowFail: true });
    },
  };
}

/** Polls `docker inspect .State.Health.Status` until 'healthy' (or 'unhealthy', or the timeout); returns the last status. */
export async function waitHealthy(name: string, timeoutMs: number): Promise<string> {
  const until = Date.now() + timeoutMs;
  let status = '';
  while (Date.now() < until) {
    status = (await docker(['inspect', '-f', '{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}', name], { allowFail: true })).stdout.trim();
    if (status === 'healthy' || status === 'unhealthy' || status === 'none') return status;
    await new Promise((r) => setTimeout(r, 250));
  }
  return status;
}
