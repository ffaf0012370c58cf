/**
 * The query service both topologies run: Brown chunks in the engine's BM25 index, an extractive answer, JSON out.
 * before.ts runs it in one process; after.ts runs one copy per core under node:cluster. The code a request goes
 * through is identical, so any difference in the benchmark is the process topology.
 *
 * Routes (all JSON; every response carries `x-worker-pid`, the process that answered):
 *
 *   GET  /query?q=<text>&k=<1..50>     → QueryResponse
 *   POST /query  {"q": "<text>", "k": 10}
 *   GET  /health                        → { pid, chunks }
 *   GET  /sleep?ms=<0..5000>            → { pid, ms }: a deliberately slow request, to test graceful shutdown
 *
 * Errors: 400 { error } for a missing/over-long query or a bad k, 404 unknown path, 405 wrong method, 413 body too large.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { extractiveAnswer } from '../../shared/answer/extractive.ts';
import { loadBrown } from '../../shared/corpus/brown.ts';
import { chunkDocument } from '../../shared/corpus/chunk.ts';
import { indexText } from '../../shared/corpus/chunk.ts';
import { Bm25Index } from '../../shared/index/bm25.ts';
import { defaultAnalyzer } from '../../shared/text/analyzer.ts';
import type { Chunk } from '../../shared/types.ts';

export const MAX_K = 50;
export const MAX_QUERY_CHARS = 1024;
const MAX_BODY_BYTES = 16 * 1024;
const MAX_SLEEP_MS = 5_000;

export interface SearchIndex {
  chunks: Chunk[];
  bm25: Bm25Index;
}

export interface QueryHit {
  rank: number;
  chunkId: string;
  docId: string;
  title?: string;
  score: number;
  text: string;
}

export interface QueryResponse {
  query: string;
  hits: QueryHit[];
  answer: { text: string; citations: Array<{ docId: string; chunkId: string }> };
}

/** The first `docs` Brown documents, chunked (200 words, 40 overlap) and indexed with BM25, labels = chunk positions. */
export async function buildIndex(docs: number): Promise<SearchIndex> {
  const chunks = (await loadBrown({ limit: docs })).flatMap((d) => chunkDocument(d));
  const bm25 = new Bm25Index();
  chunks.forEach((c, label) => bm25.add(label, defaultAnalyzer.analyze(indexText(c))));
  return { chunks, bm25 };
}

/** Top-k BM25 hits for `q` plus an extractive answer from the top 3. Pure: same index and query, same response. */
export function runQuery(index: SearchIndex, q: string, k = 10): QueryResponse {
  const hits = index.bm25.search(defaultAnalyzer.analyze(q), k).map((h, i): QueryHit => {
    const c = index.chunks[h.label];
    return { rank: i + 1, chunkId: c.id, docId: c.docId, title: c.title, score: h.score, text: c.text };
  });
  const answer = extractiveAnswer(q, hits, defaultAnalyzer, (t) => index.bm25.idf(t));
  return { query: q, hits, answer: { text: answer.text, citations: answer.citations } };
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function parseQuery(q: unknown, k: unknown): { q: string; k: number } {
  if (typeof q !== 'string' || q.trim().length === 0) throw new HttpError(400, 'q must be a non-empty string');
  if (q.length > MAX_QUERY_CHARS) throw new HttpError(400, `q is ${q.length} characters; the limit is ${MAX_QUERY_CHARS}`);
  const kk = k === undefined || k === null || k === '' ? 10 : Number(k);
  if (!Number.isInteger(kk) || kk < 1 || kk > MAX_K) throw new HttpError(400, `k must be an integer from 1 to ${MAX_K}`);
  return { q, k: kk };
}

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let size = 0;
    req.on('data', (b: Buffer) => {
      size += b.length;
      if (size > MAX_BODY_BYTES) {
        reject(new HttpError(413, `body larger than ${MAX_BODY_BYTES} bytes`));
        req.resume();
        return;
      }
      parts.push(b);
    });
    req.on('end', () => resolve(Buffer.concat(parts).toString('utf8')));
    req.on('error', reject);
  });
}

export interface QueryServer {
  server: http.Server;
  /** Listen on 127.0.0.1; under node:cluster port 0 means "the port the other workers share". */
  listen(port?: number): Promise<number>;
  /**
   * Graceful close: stop accepting, let in-flight requests finish (their responses say `connection: close`), close
   * idle keep-alive sockets; after `graceMs` cut whatever is left.
   */
  close(graceMs?: number): Promise<void>;
}

export function createQueryServer(index: SearchIndex): QueryServer {
  let closing = false;
  const send = (res: http.ServerResponse, status: number, body: unknown) => {
    const json = JSON.stringify(body);
    res.writeHead(status, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(json),
      'x-worker-pid': String(process.pid),
      ...(closing ? { connection: 'close' } : {}),
    });
    res.end(json);
  };

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    switch (url.pathname) {
      case '/query': {
        if (req.method === 'GET') {
          const { q, k } = parseQuery(url.searchParams.get('q'), url.searchParams.get('k'));
          return send(res, 200, runQuery(index, q, k));
        }
        if (req.method === 'POST') {
          let body: { q?: unknown; k?: unknown };
          try {
            body = JSON.parse(await readBody(req)) as typeof body;
          } catch (err) {
            if (err instanceof HttpError) throw err;
            throw new HttpError(400, 'body must be JSON: {"q": "...", "k": 10}');
          }
          const { q, k } = parseQuery(body?.q, body?.k);
          return send(res, 200, runQuery(index, q, k));
        }
        throw new HttpError(405, 'use GET or POST');
      }
      case '/health':
        return send(res, 200, { pid: process.pid, chunks: index.chunks.length });
      case '/sleep': {
        const ms = Math.min(MAX_SLEEP_MS, Math.max(0, Number(url.searchParams.get('ms')) || 0));
        await new Promise((r) => setTimeout(r, ms));
        return send(res, 200, { pid: process.pid, ms });
      }
      default:
        throw new HttpError(404, `no route ${url.pathname}`);
    }
  };

  const server = http.createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (res.headersSent) return res.destroy();
      if (err instanceof HttpError) return send(res, err.status, { error: err.message });
      send(res, 500, { error: 'internal error' });
    });
  });
  server.keepAliveTimeout = 10_000;

  return {
    server,
    listen: (port = 0) =>
      new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, '127.0.0.1', () => {
          server.off('error', reject);
          resolve((server.address() as AddressInfo).port);
        });
      }),
    close: (graceMs = 10_000) =>
      new Promise<void>((resolve) => {
        closing = true;
        const timer = setTimeout(() => server.closeAllConnections(), graceMs);
        timer.unref();
        server.close(() => {
          clearTimeout(timer);
          resolve();
        });
        server.closeIdleConnections();
      }),
  };
}
