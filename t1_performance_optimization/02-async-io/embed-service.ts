/**
 * A slow local "embedding API" on 127.0.0.1: POST /embed {"text": "..."} answers {"vector": [...]} after an
 * artificial latency (default 20 ms, like a remote model server's round trip). The vector is a cheap deterministic
 * hashed bag of words (the latency is the point, not the model).
 *
 * Real model servers have a tail: with `slow`, one text in `every` (picked by a hash of the text, so the same file is
 * slow for every version and every run) takes `slow.ms` instead. That tail is what tells a sliding window from fixed
 * batches: a batch waits for its slowest call.
 *
 * It counts what the lesson reports: calls, requests in flight right now, the most ever in flight at once, and the
 * sum of every request's time at the service (divided by the wall time: the mean number in flight).
 * A text containing FAIL_MARKER gets a 500 {"error": "..."}, to test how errors surface.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { tokenize } from '../../shared/text/tokenize.ts';

export const FAIL_MARKER = 'EMBED-FAIL-MARKER';

export interface EmbedServiceOptions {
  /** Artificial latency per call, in ms. Default 20. */
  latencyMs?: number;
  /** One text in `every` (by a hash of the text) takes `ms` instead of `latencyMs`. Default: none. */
  slow?: { ms: number; every: number };
  /** Vector dimensions. Default 64. */
  dim?: number;
}

export interface EmbedStats {
  calls: number;
  inFlight: number;
  maxInFlight: number;
  /** Sum over requests of their time at the service, ms: over a wall time T, the mean in flight is inFlightMs / T. */
  inFlightMs: number;
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

/** The latency of one call for `text`: `latencyMs`, or `slow.ms` for one text in `slow.every`. */
export function latencyFor(text: string, opts: Pick<EmbedServiceOptions, 'latencyMs' | 'slow'>): number {
  const base = opts.latencyMs ?? 20;
  return opts.slow && mix(hash(text)) % opts.slow.every === 0 ? opts.slow.ms : base;
}

/** A 32-bit finaliser (murmur3's), so that "one text in `every`" spreads evenly whatever the texts look like. */
function mix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
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
  const dim = opts.dim ?? 64;
  const stats: EmbedStats = { calls: 0, inFlight: 0, maxInFlight: 0, inFlightMs: 0 };
  const server = createServer((req, res) => {
    if (req.method !== 'POST' || req.url !== '/embed') return send(res, 404, { error: 'POST /embed only' });
    const arrived = performance.now();
    stats.calls++;
    stats.inFlight++;
    stats.maxInFlight = Math.max(stats.maxInFlight, stats.inFlight);
    const finish = (status: number, payload: unknown) => {
      stats.inFlight--;
      stats.inFlightMs += performance.now() - arrived;
      send(res, status, payload);
    };
    body(req)
      .then((raw) => {
        const { text } = JSON.parse(raw) as { text?: unknown };
        setTimeout(() => {
          if (typeof text !== 'string') return finish(400, { error: 'body must be {"text": string}' });
          if (text.includes(FAIL_MARKER)) return finish(500, { error: 'model failed on this input' });
          finish(200, { vector: hashEmbed(text, dim) });
        }, latencyFor(typeof text === 'string' ? text : '', opts));
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
          stats.inFlightMs = 0;
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
