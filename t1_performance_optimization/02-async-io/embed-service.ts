/**
 * A slow local "embedding API" on 127.0.0.1: POST /embed {"text": "..."} answers {"vector": [...]} after a fixed
 * artificial latency (default 20 ms, like a remote model server's round trip). The vector is a cheap deterministic
 * hashed bag of words (the latency is the point, not the model).
 *
 * It counts what the lesson checks: calls, requests in flight right now, and the most ever in flight at once.
 * A text containing FAIL_MARKER gets a 500 {"error": "..."}, to test how errors surface.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tokenize } from '../../shared/text/tokenize.ts';

export const FAIL_MARKER = 'EMBED-FAIL-MARKER';

export interface EmbedServiceOptions {
  /** Artificial latency per call, in ms. Default 20. */
  latencyMs?: number;
  /** Vector dimensions. Default 64. */
  dim?: number;
}

export interface EmbedStats {
  calls: number;
  inFlight: number;
  maxInFlight: number;
}

export interface EmbedService {
  /** 'http://127.0.0.1:<port>' */
  url: string;
  stats(): EmbedStats;
  resetStats(): void;
  close(): Promise<void>;
}

/** FNV-1a hash of a string: the bucket a token adds to. */
function hash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** Hashed bag of words, L2-normalised, rounded to 6 decimals (exact in JSON both ways). */
export function hashEmbed(text: string, dim: number): number[] {
  const v = new Array<number>(dim).fill(0);
  for (const t of tokenize(text)) v[hash(t) % dim] += 1;
  const norm = Math.sqrt(v.reduce((s, x) => s + x * x, 0)) || 1;
  return v.map((x) => Math.round((x / norm) * 1e6) / 1e6);
}

async function body(req: IncomingMessage): Promise<string> {
  const parts: Buffer[] = [];
  for await (const part of req) parts.push(part as Buffer);
  return Buffer.concat(parts).toString('utf8');
}

function send(res: ServerResponse, status: number, payload: unknown): void {
  const s = JSON.stringify(payload);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(s) });
  res.end(s);
}

export function startEmbedService(opts: EmbedServiceOptions = {}): Promise<EmbedService> {
  const latencyMs = opts.latencyMs ?? 20;
  const dim = opts.dim ?? 64;
  const stats: EmbedStats = { calls: 0, inFlight: 0, maxInFlight: 0 };
  const server = createServer((req, res) => {
    if (req.method !== 'POST' || req.url !== '/embed') return send(res, 404, { error: 'POST /embed only' });
    stats.calls++;
    stats.inFlight++;
    stats.maxInFlight = Math.max(stats.maxInFlight, stats.inFlight);
    const finish = (status: number, payload: unknown) => {
      stats.inFlight--;
      send(res, status, payload);
    };
    body(req)
      .then((raw) => {
        const { text } = JSON.parse(raw) as { text?: unknown };
        setTimeout(() => {
          if (typeof text !== 'string') return finish(400, { error: 'body must be {"text": string}' });
          if (text.includes(FAIL_MARKER)) return finish(500, { error: 'model failed on this input' });
          finish(200, { vector: hashEmbed(text, dim) });
        }, latencyMs);
      })
      .catch((err: Error) => finish(400, { error: `bad request body: ${err.message}` }));
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      resolve({
        url: `http://127.0.0.1:${port}`,
        stats: () => ({ ...stats }),
        resetStats: () => {
          stats.calls = 0;
          stats.maxInFlight = stats.inFlight;
        },
        close: () =>
          new Promise<void>((done) => {
            server.closeAllConnections();
            server.close(() => done());
          }),
      });
    });
  });
}
