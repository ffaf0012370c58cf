/**
 * Before: the gateway calls the shard the way a first version does: `fetch` a JSON body to the shard's HTTP
 * endpoint (`POST /rpc/shard.search`, http-rpc.ts's server), read JSON back. The query vector becomes 100 decimal
 * numbers (`Array.from`: JSON.stringify of a Float32Array would give an object keyed "0".."99"), each float32 spelled
 * as the shortest decimal that reads back to the same double (~19 characters); every score likewise.
 *
 * What Node 20's fetch does with connections: it runs on undici's global dispatcher, an Agent that keeps
 * connections alive (4 s idle) with no limit per origin. So this is NOT a connection per call: sequential calls
 * reuse one socket, and N concurrent calls open N. (The `http` module's global agent keeps alive too since Node 19.)
 * A connection per call is what Node ≤ 18's `http.request`, `agent: false`, or a peer that answers
 * `Connection: close` give; the lesson measures that as its own row (transports.ts, `perCallHttpClient`).
 */
import { RpcError, TOKEN_HEADER, type CallOptions, type RpcClient, type RpcCode } from '../../shared/services/rpc.ts';
import type { MethodCodec } from '../../shared/services/grpc-rpc.ts';
import type { ScoredLabel } from '../../shared/types.ts';
import { SEARCH, type ShardEndpoints, type ShardSearchRequest, type ShardSearchResponse } from './search.ts';

export type { ShardEndpoints, ShardSearchRequest, ShardSearchResponse } from './search.ts';

/** `shard.search` as JSON text (the vector as a plain array). */
export const searchCodec: MethodCodec<ShardSearchRequest, ShardSearchResponse> = {
  encodeRequest: (r) => Buffer.from(JSON.stringify({ ...r, vector: Array.from(r.vector) })),
  decodeRequest: (bytes) => {
    const m = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'));
    return { ...m, vector: Float32Array.from(m.vector as number[]) };
  },
  encodeResponse: (r) => Buffer.from(JSON.stringify(r)),
  decodeResponse: (bytes) => JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8')) as { text: ScoredLabel[]; dense: ScoredLabel[] },
};

const CODES = new Set(['INVALID_ARGUMENT', 'UNAUTHENTICATED', 'NOT_FOUND', 'CANCELLED', 'INTERNAL', 'OVERLOADED', 'UNAVAILABLE', 'DEADLINE_EXCEEDED']);

/** The gateway's client for one shard: `fetch` to `endpoints.http`, JSON both ways. */
export function connect(endpoints: ShardEndpoints, opts: { secret?: string } = {}): RpcClient {
  const target = endpoints.http;
  return {
    target,
    async call<Res>(method: string, req: unknown, callOpts: CallOptions = {}): Promise<Res> {
      const body = method === SEARCH ? searchCodec.encodeRequest(req as ShardSearchRequest) : JSON.stringify(req ?? {});
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (opts.secret !== undefined) headers[TOKEN_HEADER] = opts.secret;
      if (callOpts.deadlineMs !== undefined) headers['x-deadline-ms'] = String(Math.max(0, Math.floor(callOpts.deadlineMs)));
      const signals = [callOpts.signal, callOpts.deadlineMs === undefined ? undefined : AbortSignal.timeout(Math.max(1, callOpts.deadlineMs))].filter((s): s is AbortSignal => !!s);
      let res: Response;
      try {
        res = await fetch(`${target}/rpc/${encodeURIComponent(method)}`, { method: 'POST', headers, body, signal: signals.length ? AbortSignal.any(signals) : undefined });
      } catch (err) {
        const e = err as Error;
        if (e.name === 'TimeoutError') throw new RpcError('DEADLINE_EXCEEDED', `${method} on ${target}: no answer within ${callOpts.deadlineMs} ms`, target);
        if (e.name === 'AbortError') throw new RpcError('CANCELLED', `${method} on ${target}: cancelled`, target);
        throw new RpcError('UNAVAILABLE', `${method} on ${target}: ${e.message}`, target);
      }
      const text = await res.text();
      if (res.ok) return (method === SEARCH ? searchCodec.decodeResponse(Buffer.from(text)) : JSON.parse(text)) as Res;
      let code: RpcCode = 'INTERNAL';
      let message = `HTTP ${res.status}`;
      try {
        const b = JSON.parse(text) as { code?: string; message?: string };
        if (b.code && CODES.has(b.code)) code = b.code as RpcCode;
        if (b.message) message = b.message;
      } catch {
        /* keep the status */
      }
      throw new RpcError(code, `${method} on ${target}: ${message}`, target);
    },
    close: async () => {},
  };
}
