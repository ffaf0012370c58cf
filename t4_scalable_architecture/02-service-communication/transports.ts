/**
 * What the benchmark needs around the lesson's clients: the naive "connection per call" HTTP client (the row that
 * shows what pooling buys, since Node 20's fetch already keeps connections alive: before.ts), and a loopback proxy
 * that counts the bytes and connections that pass through it (bytes on the wire per call, whatever the protocol).
 */
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { RpcError, TOKEN_HEADER, type CallOptions, type RpcClient, type RpcCode } from '../../shared/services/rpc.ts';
import { searchCodec as jsonSearch } from './before.ts';
import { SEARCH, type ShardSearchRequest } from './search.ts';

/**
 * HTTP/JSON with a new TCP connection per call: `http.request` with `agent: false` (what Node ≤ 18's default agent
 * did, and what a peer answering `Connection: close` forces). Each call pays a handshake, and the server a socket.
 */
export function perCallHttpClient(baseUrl: string, opts: { secret?: string } = {}): RpcClient {
  const u = new URL(baseUrl);
  return {
    target: baseUrl,
    call<Res>(method: string, req: unknown, callOpts: CallOptions = {}): Promise<Res> {
      const body = method === SEARCH ? jsonSearch.encodeRequest(req as ShardSearchRequest) : Buffer.from(JSON.stringify(req ?? {}));
      const headers: Record<string, string | number> = { 'content-type': 'application/json', 'content-length': body.length };
      if (opts.secret !== undefined) headers[TOKEN_HEADER] = opts.secret;
      return new Promise<Res>((resolve, reject) => {
        const r = http.request(
          { host: u.hostname, port: u.port, method: 'POST', path: `/rpc/${encodeURIComponent(method)}`, headers, agent: false, signal: callOpts.signal },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () => {
              const bytes = Buffer.concat(chunks);
              if (res.statusCode === 200) return resolve((method === SEARCH ? jsonSearch.decodeResponse(bytes) : JSON.parse(bytes.toString())) as Res);
              let code: RpcCode = 'INTERNAL';
              try {
                code = (JSON.parse(bytes.toString()) as { code: RpcCode }).code ?? code;
              } catch {
                /* keep INTERNAL */
              }
              reject(new RpcError(code, `${method} on ${baseUrl}: HTTP ${res.statusCode}`, baseUrl));
            });
            res.on('error', (err) => reject(new RpcError('UNAVAILABLE', `${method} on ${baseUrl}: ${err.message}`, baseUrl)));
          },
        );
        r.on('error', (err) => reject(new RpcError(callOpts.signal?.aborted ? 'CANCELLED' : 'UNAVAILABLE', `${method} on ${baseUrl}: ${err.message}`, baseUrl)));
        r.end(body);
      });
    },
    close: async () => {},
  };
}

export interface ByteCounter {
  /** `127.0.0.1:<port>` of the proxy. */
  readonly address: string;
  readonly port: number;
  /** Bytes client → server and server → client, and connections accepted, since the last `reset`. */
  counts(): { up: number; down: number; connections: number };
  reset(): void;
  close(): Promise<void>;
}

/** A TCP proxy on 127.0.0.1:0 to `host:port` that counts the payload bytes each way (TCP/IP headers not included). */
export async function startByteCounter(target: string): Promise<ByteCounter> {
  const [host, portText] = target.replace(/^\w+:\/\//, '').replace(/\/.*$/, '').split(':');
  let up = 0;
  let down = 0;
  let connections = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    connections++;
    const upstream = net.connect(Number(portText), host);
    sockets.add(client).add(upstream);
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    client.on('data', (c: Buffer) => {
      up += c.length;
      upstream.write(c);
    });
    upstream.on('data', (c: Buffer) => {
      down += c.length;
      client.write(c);
    });
    const drop = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('close', drop).on('error', drop);
    upstream.on('close', drop).on('error', drop);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    address: `127.0.0.1:${port}`,
    port,
    counts: () => ({ up, down, connections }),
    reset() {
      up = down = connections = 0;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
