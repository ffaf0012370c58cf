/**
 * A loopback HTTP chunk service (the third backend): GET /chunks/<id> → the record as JSON, 404 { error } when the
 * id is unknown, 500 for the id `boom` (so a checkpoint can test the error path). It counts open TCP connections,
 * now and at the peak, server-side: the number a pool promises to keep bounded.
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { ChunkRecord } from './after.ts';

export interface ChunkService {
  url: string;
  /** TCP connections open right now. */
  open(): number;
  /** Most connections open at once since start (or the last `resetPeak`). */
  peak(): number;
  resetPeak(): void;
  /** Connections accepted since start. */
  accepted(): number;
  close(): Promise<void>;
}

export async function startChunkService(records: ChunkRecord[]): Promise<ChunkService> {
  const byId = new Map(records.map((r) => [r.id, JSON.stringify(r)]));
  const sockets = new Set<Socket>();
  let peak = 0;
  let accepted = 0;
  const server = http.createServer((req, res) => {
    const m = /^\/chunks\/([^/?]+)$/.exec(req.url ?? '');
    const id = m ? decodeURIComponent(m[1]) : undefined;
    const body = id === undefined ? undefined : byId.get(id);
    const [status, json] =
      id === 'boom'
        ? [500, JSON.stringify({ error: 'simulated failure' })]
        : body !== undefined
          ? [200, body]
          : [404, JSON.stringify({ error: `no chunk ${id ?? req.url}` })];
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(json) });
    res.end(json);
  });
  server.keepAliveTimeout = 30_000;
  server.on('connection', (s: Socket) => {
    accepted++;
    sockets.add(s);
    peak = Math.max(peak, sockets.size);
    s.once('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    open: () => sockets.size,
    peak: () => peak,
    resetPeak: () => {
      peak = sockets.size;
    },
    accepted: () => accepted,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
