/**
 * A loopback TCP proxy that counts connections: put it between a store and Redis or PostgreSQL and it tells how many
 * connections the store opened, how many are open now and the most that were open at once. It sees every connection
 * whatever the client library, and only this store's (other users of the same server are not counted), so the
 * checkpoint can count a store's connections exactly instead of sampling the server.
 */
import net from 'node:net';
import type { AddressInfo } from 'node:net';

export interface CountingProxy {
  /** The proxy's port on 127.0.0.1. */
  port: number;
  /** `target` with its host and port replaced by the proxy's (http://…, redis://…, postgres://…). */
  url(target: string): string;
  /** Connections accepted since start. */
  opened(): number;
  /** Connections open right now. */
  open(): number;
  /** Most connections open at once since start. */
  peak(): number;
  /** Stop accepting and cut every connection. */
  close(): Promise<void>;
  /** Stop accepting but leave the open connections alone (they end with the process), without keeping it alive. */
  abandon(): void;
}

/** Forward every connection to `target` (an http://, redis:// or postgres:// URL, or host:port). */
export async function startCountingProxy(target: string): Promise<CountingProxy> {
  const u = new URL(target.includes('://') ? target : `tcp://${target}`);
  const host = u.hostname || '127.0.0.1';
  const port = Number(u.port) || ({ 'http:': 80, 'postgres:': 5432, 'postgresql:': 5432 } as Record<string, number>)[u.protocol] || 6379;
  const clients = new Set<net.Socket>();
  const upstreams = new Set<net.Socket>();
  let opened = 0;
  let peak = 0;
  const server = net.createServer((client) => {
    opened++;
    clients.add(client);
    peak = Math.max(peak, clients.size);
    const upstream = net.connect(port, host);
    upstreams.add(upstream);
    const drop = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop);
    upstream.on('error', drop);
    client.once('close', () => {
      clients.delete(client);
      upstream.end();
    });
    upstream.once('close', () => {
      upstreams.delete(upstream);
      client.end();
    });
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const own = (server.address() as AddressInfo).port;
  return {
    port: own,
    url(t) {
      const x = new URL(t);
      x.hostname = '127.0.0.1';
      x.port = String(own);
      return x.protocol.startsWith('http') && x.pathname === '/' ? x.origin : x.toString();
    },
    opened: () => opened,
    open: () => clients.size,
    peak: () => peak,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of [...clients, ...upstreams]) s.destroy();
        server.close(() => resolve());
      }),
    abandon() {
      server.close();
      server.unref();
      for (const sock of [...clients, ...upstreams]) sock.unref();
    },
  };
}
