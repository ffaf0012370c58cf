/**
 * The HTTP plumbing both servers share (node:http on 127.0.0.1, port 0), so before.ts and after.ts differ only in
 * how the search handler does its work.
 *
 * Routes:
 *   GET /healthz                    → 200 {"ok":true}: the cheap request that must stay fast
 *   GET /search?q=<query>&docs=<n>  → 200 {"hits":[...]}: read, parse, chunk and analyse the first n corpus files,
 *                                      then return the top-k BM25 chunks for q (an ad-hoc search over a batch)
 * Errors: 400 {"error":"..."} for a bad parameter, 500 {"error":"..."} when the job fails (a missing file...).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { RagError } from '../../shared/errors.ts';

export interface CorpusFile {
  /** Absolute path of a tagged Brown file. */
  path: string;
  /** Document id, e.g. 'brown/ca01'. */
  id: string;
}

export interface Hit {
  /** Chunk id (content hash). */
  id: string;
  docId: string;
  score: number;
}

export interface SearchParams {
  query: string;
  /** How many of the server's files to search (the first n). */
  docs: number;
  k: number;
}

export interface ServerOptions {
  /** The corpus files the server searches. Default: all 500 Brown files (see data.ts). */
  files?: CorpusFile[];
  /** Hits per search. Default 5. */
  k?: number;
  /** Called when a search job starts, before any of its work (tests use it to send a request meanwhile). */
  onJobStart?: () => void;
}

export interface RunningServer {
  /** 'http://127.0.0.1:<port>' */
  url: string;
  close(): Promise<void>;
}

/** The search job: given the files to read, the hits. May be sync (blocking) or async. */
export type SearchJob = (files: CorpusFile[], params: SearchParams) => Hit[] | Promise<Hit[]>;

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) });
  res.end(payload);
}

/** Reads q, docs from the URL; throws RagError('INVALID_INPUT') naming the bad parameter. */
export function parseSearch(url: URL, maxDocs: number, k: number): SearchParams {
  const query = url.searchParams.get('q') ?? '';
  if (query.trim() === '') throw new RagError('INVALID_INPUT', 'q: a non-empty query is required');
  const raw = url.searchParams.get('docs') ?? '10';
  const docs = Number(raw);
  if (!Number.isInteger(docs) || docs < 1 || docs > maxDocs) {
    throw new RagError('INVALID_INPUT', `docs: expected an integer from 1 to ${maxDocs}, got "${raw}"`);
  }
  return { query, docs, k };
}

/** Starts an HTTP server on 127.0.0.1, a free port, with /healthz and /search served by `job`. */
export function listen(job: SearchJob, files: CorpusFile[], opts: ServerOptions): Promise<RunningServer> {
  const k = opts.k ?? 5;
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (url.pathname === '/healthz') return sendJson(res, 200, { ok: true });
    if (url.pathname !== '/search') return sendJson(res, 404, { error: `no route ${url.pathname}` });
    let params: SearchParams;
    try {
      params = parseSearch(url, files.length, k);
    } catch (err) {
      return sendJson(res, 400, { error: (err as Error).message });
    }
    try {
      opts.onJobStart?.();
      const hits = await job(files.slice(0, params.docs), params);
      sendJson(res, 200, { hits });
    } catch (err) {
      sendJson(res, 500, { error: (err as Error).message });
    }
  };
  const server = createServer((req, res) => {
    handle(req, res).catch((err: Error) => {
      if (!res.headersSent) sendJson(res, 500, { error: err.message });
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      resolve({
        url: `http://127.0.0.1:${port}`,
        close: () =>
          new Promise<void>((done) => {
            server.closeAllConnections();
            server.close(() => done());
          }),
      });
    });
  });
}
