/**
 * Checkpoint for 02-service-communication. `npm run checkpoint -- 02-service-communication` runs it against
 * exercise.ts; plain `npx vitest run` checks before.ts (fetch + JSON) and after.ts (gRPC + protobuf).
 *
 * A real shard (search.ts: Bm25Shard + FlatIndex over shard 0 of 2 of the first 400 Brown chunks), served in this
 * process on 127.0.0.1:0 (the benchmark runs it in a process of its own) with the implementation's own codec: the
 * shard's HTTP server for before.ts, a gRPC server for the others. What is checked:
 *   - every answer through the transport equals what the shard computes in-process (labels and scores, bit for bit);
 *   - the codec round-trips exactly: a vector that is a view into a bigger buffer, bytes that start at an odd offset;
 *   - the lesson's point (not for before.ts, whose JSON is the naive baseline): a request's bytes fit in 4 per vector
 *     component + its terms + 16, a response's in 8 per score + the labels' varints + 8 per list;
 *   - errors: a bad request is INVALID_ARGUMENT, a missing credential UNAUTHENTICATED, a spent deadline
 *     DEADLINE_EXCEEDED, a shard that is down UNAVAILABLE;
 *   - and for after.ts, the transports agree: HTTP/JSON (http-rpc.ts), gRPC and NATS (when a NATS server answers)
 *     give the same results and the same codes for the same faults.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { implementations } from '../../shared/lab/checkpoint.ts';
import { grpcRpcClient, serveGrpcRpc, type MethodCodec } from '../../shared/services/grpc-rpc.ts';
import { httpRpcClient, serveHttpRpc, type HttpRpcServer } from '../../shared/services/http-rpc.ts';
import { natsRpcClient, natsSkipReason, serveNatsRpc } from '../../shared/services/nats-rpc.ts';
import { RpcError, type RpcClient, type RpcHandler } from '../../shared/services/rpc.ts';
import type * as After from './after.ts';
import { buildShard, SEARCH, shardHandler, type ShardSearchRequest, type ShardSearchResponse, type ShardWorkload } from './search.ts';

type Mod = typeof After;
const natsSkip = await natsSkipReason();
if (natsSkip) console.warn(`NATS part of "the three transports agree" skipped: ${natsSkip}`);
const SECRET = 's3cret-token';

let w: ShardWorkload;
let expected: ShardSearchResponse[];
let search: RpcHandler;
/** The shard's handler, plus `slow` (waits until its deadline fires) for the deadline check. */
let handler: RpcHandler;

beforeAll(async () => {
  w = await buildShard({ chunks: 400, queries: 8, k: 10 });
  search = shardHandler(w.shard);
  const ctx = { signal: new AbortController().signal };
  expected = (await Promise.all(w.requests.map((r) => search(SEARCH, r, ctx)))) as ShardSearchResponse[];
  handler = async (method, req, c) => {
    if (method === 'slow') return new Promise((resolve) => c.signal.addEventListener('abort', () => resolve('late'), { once: true }));
    return search(method, req, c);
  };
}, 30_000);

async function rejection(p: Promise<unknown>): Promise<RpcError> {
  try {
    await p;
  } catch (err) {
    expect(err, `expected an RpcError, got ${String(err)}`).toBeInstanceOf(RpcError);
    return err as RpcError;
  }
  throw new Error('the call resolved; an error was expected');
}

const varintLen = (n: number): number => (n < 2 ** 7 ? 1 : n < 2 ** 14 ? 2 : n < 2 ** 21 ? 3 : n < 2 ** 28 ? 4 : 5);
const utf8Len = (s: string): number => Buffer.byteLength(s);

/** What each hit's label and score must fit in; what the response's framing may add. */
function responseBudget(r: ShardSearchResponse): number {
  let b = 16; // 8 per list
  for (const h of [...r.text, ...r.dense]) b += 8 + varintLen(h.label);
  return b;
}

function requestBudget(r: ShardSearchRequest): number {
  return 4 * r.vector.length + r.terms.reduce((s, t) => s + utf8Len(t) + 2, 0) + r.df.reduce((s, d) => s + varintLen(d), 0) + 16;
}

/** `bytes` copied to start at byte `offset` of a bigger ArrayBuffer (how received bytes often arrive). */
function atOffset(bytes: Uint8Array, offset: number): Uint8Array {
  const buf = new Uint8Array(bytes.length + offset + 3);
  buf.set(bytes, offset);
  return buf.subarray(offset, offset + bytes.length);
}

/** The request with its vector as row 2 of a 4-row matrix (a view with a non-zero byteOffset). */
function asMatrixRow(r: ShardSearchRequest): ShardSearchRequest {
  const dim = r.vector.length;
  const m = new Float32Array(4 * dim);
  for (let i = 0; i < m.length; i++) m[i] = ((i * 7919) % 1000) / 1000 - 0.5;
  m.set(r.vector, 2 * dim);
  return { ...r, vector: m.subarray(2 * dim, 3 * dim) };
}

function sameHits(got: ShardSearchResponse, want: ShardSearchResponse, what: string): void {
  for (const list of ['text', 'dense'] as const) {
    expect(got[list].length, `${what}: ${list} list has ${got[list].length} hits, the shard gave ${want[list].length}`).toBe(want[list].length);
    for (let i = 0; i < want[list].length; i++) {
      const g = got[list][i];
      const e = want[list][i];
      expect(g.label, `${what}: ${list} hit ${i} is label ${g.label}, the shard gave ${e.label}`).toBe(e.label);
      expect(
        Object.is(g.score, e.score),
        `${what}: the score of ${list} hit ${i} (label ${e.label}) changed on the wire: ${e.score} was sent, ${g.score} arrived`,
      ).toBe(true);
    }
  }
}

describe.each(await implementations<Mod>(import.meta.url))('%s', (name, impl) => {
  const open: Array<{ close(): Promise<void> }> = [];
  let client: RpcClient;
  let endpoints: { http: string; grpc: string };

  beforeAll(async () => {
    const http = await serveHttpRpc(handler, { secret: SECRET });
    const grpc = await serveGrpcRpc(handler, { secret: SECRET, codecs: { [SEARCH]: impl.searchCodec as MethodCodec<any, any> } });
    open.push(http, grpc);
    endpoints = { http: http.url, grpc: grpc.address };
    client = impl.connect(endpoints, { secret: SECRET });
    open.push(client);
  });
  afterAll(async () => {
    for (const x of open.reverse()) {
      const closed = x.close();
      // fetch's global dispatcher keeps its connections open: an HTTP server waits for them (keepAliveTimeout)
      if ('server' in x) (x as HttpRpcServer).server.closeAllConnections();
      await closed;
    }
  });

  it('every answer through the transport equals what the shard computes in-process', async () => {
    for (let q = 0; q < w.requests.length; q++) {
      const got = await client.call<ShardSearchResponse>(SEARCH, w.requests[q]);
      sameHits(got, expected[q], `query ${q} ("${w.queryTexts[q].slice(0, 40)}")`);
    }
    // concurrent calls each get their own answer
    const all = await Promise.all(w.requests.map((r) => client.call<ShardSearchResponse>(SEARCH, r)));
    all.forEach((got, q) => sameHits(got, expected[q], `query ${q}, sent concurrently`));
  });

  it('the codec round-trips exactly: a vector that is a row of a matrix, bytes that start at an odd offset', async () => {
    const codec = impl.searchCodec;
    for (let q = 0; q < w.requests.length; q++) {
      const sent = asMatrixRow(w.requests[q]);
      let back: ShardSearchRequest;
      try {
        back = codec.decodeRequest(atOffset(codec.encodeRequest(sent), 1));
      } catch (err) {
        throw new Error(`decoding a request message at byte offset 1 of its buffer threw: ${(err as Error).message}`);
      }
      expect(back.vector.length, `query ${q}: the vector that arrived is not the one sent: ${back.vector.length} components, ${sent.vector.length} sent`).toBe(sent.vector.length);
      const diff = Array.from(sent.vector).findIndex((x, i) => !Object.is(x, back.vector[i]));
      expect(diff, `query ${q}: the vector that arrived is not the one sent: component ${diff} was ${sent.vector[diff]}, arrived ${back.vector[diff]}`).toBe(-1);
      expect({ k: back.k, terms: back.terms, df: Array.from(back.df), docs: back.docs, totalLength: back.totalLength }).toEqual({
        k: sent.k, terms: sent.terms, df: sent.df, docs: sent.docs, totalLength: sent.totalLength,
      });
      let res: ShardSearchResponse;
      try {
        res = codec.decodeResponse(atOffset(codec.encodeResponse(expected[q]), 1));
      } catch (err) {
        throw new Error(`decoding a response message at byte offset 1 of its buffer threw: ${(err as Error).message}`);
      }
      sameHits(res, expected[q], `query ${q}, codec round trip`);
    }
    // and through the transport, with the vector as a matrix row
    sameHits(await client.call<ShardSearchResponse>(SEARCH, asMatrixRow(w.requests[0])), expected[0], 'query 0 with its vector a row of a matrix');
  });

  describe.skipIf(name === 'before')('the wire (JSON, before.ts, is the baseline this improves on)', () => {
    it('a request costs at most 4 bytes per vector component plus its terms; a response 8 bytes per score plus its labels', () => {
      const codec = impl.searchCodec;
      for (let q = 0; q < w.requests.length; q++) {
        const r = w.requests[q];
        const bytes = codec.encodeRequest(r).length;
        const budget = requestBudget(r);
        const terms = budget - 4 * r.vector.length - 16;
        expect(
          bytes,
          `query ${q}: ${bytes} bytes for a request with ${r.terms.length} terms and a ${r.vector.length}-d vector: ` +
            `${((bytes - terms - 16) / r.vector.length).toFixed(1)} bytes per vector component beyond the terms; packed floats need 4 (a float32 in JSON costs ~19 characters)`,
        ).toBeLessThanOrEqual(budget);
        const out = codec.encodeResponse(expected[q]).length;
        const hits = expected[q].text.length + expected[q].dense.length;
        expect(
          out,
          `query ${q}: ${out} bytes for a response of ${hits} hits: ${(out / Math.max(1, hits)).toFixed(1)} bytes per hit, ` +
            `budget ${responseBudget(expected[q])} (8 per score + the label's varint, 8 per list): two packed columns fit, a message per hit does not`,
        ).toBeLessThanOrEqual(responseBudget(expected[q]));
      }
    });
  });

  it('a bad request is INVALID_ARGUMENT; a missing credential UNAUTHENTICATED; a spent deadline DEADLINE_EXCEEDED; a shard that is down UNAVAILABLE', async () => {
    const r = w.requests[0];
    expect((await rejection(client.call(SEARCH, { ...r, k: 0 }))).code, 'k = 0').toBe('INVALID_ARGUMENT');
    expect((await rejection(client.call(SEARCH, { ...r, vector: r.vector.subarray(0, 50) }))).code, 'a 50-d vector').toBe('INVALID_ARGUMENT');
    const anon = impl.connect(endpoints, {});
    open.push(anon);
    expect((await rejection(anon.call(SEARCH, r))).code, 'no credential').toBe('UNAUTHENTICATED');
    expect((await rejection(client.call('slow', {}, { deadlineMs: 50 }))).code, 'deadline 50 ms on a call that takes longer').toBe('DEADLINE_EXCEEDED');
    const gone = await serveGrpcRpc(handler, { codecs: { [SEARCH]: impl.searchCodec as MethodCodec<any, any> } });
    const goneHttp = await serveHttpRpc(handler);
    const down = { http: goneHttp.url, grpc: gone.address };
    await gone.close();
    await goneHttp.close();
    const toDown = impl.connect(down, { secret: SECRET });
    open.push(toDown);
    expect((await rejection(toDown.call(SEARCH, r))).code, 'a shard that is down').toBe('UNAVAILABLE');
  });

  describe.runIf(name === 'after')('the three transports agree', () => {
    const clients: Record<string, RpcClient> = {};

    beforeAll(async () => {
      clients.http = httpRpcClient(endpoints.http, { secret: SECRET });
      clients.grpc = client;
      open.push(clients.http);
      if (!natsSkip) {
        const subject = `test.t4-02.${randomBytes(4).toString('hex')}`;
        const server = await serveNatsRpc(handler, { subject, secret: SECRET, codecs: { [SEARCH]: impl.searchCodec as MethodCodec<any, any> } });
        clients.nats = natsRpcClient({ subject, secret: SECRET, codecs: { [SEARCH]: impl.searchCodec as MethodCodec<any, any> } });
        open.push(server, clients.nats);
        clients.natsAnon = natsRpcClient({ subject, codecs: { [SEARCH]: impl.searchCodec as MethodCodec<any, any> } });
        clients.natsNobody = natsRpcClient({ subject: `test.t4-02.nobody-${randomBytes(4).toString("hex")}` });
        open.push(clients.natsAnon, clients.natsNobody);
      }
    });

    it('same labels and scores, and the same codes for the same faults, on HTTP/JSON, gRPC and NATS', async () => {
      const names = Object.keys(clients).filter((n) => !n.startsWith('nats') || n === 'nats');
      for (const t of names) {
        // http-rpc.ts sends JSON.stringify(request): a Float32Array would become an object, so its callers send arrays
        const asSent = (r: ShardSearchRequest) => (t === 'http' ? { ...r, vector: Array.from(r.vector) } : r);
        for (let q = 0; q < w.requests.length; q++) sameHits(await clients[t].call<ShardSearchResponse>(SEARCH, asSent(w.requests[q])), expected[q], `${t}, query ${q}`);
        expect((await rejection(clients[t].call(SEARCH, asSent({ ...w.requests[0], k: 0 })))).code, `${t}: k = 0`).toBe('INVALID_ARGUMENT');
        expect((await rejection(clients[t].call('slow', {}, { deadlineMs: 50 }))).code, `${t}: deadline`).toBe('DEADLINE_EXCEEDED');
      }
      const anonHttp = httpRpcClient(endpoints.http);
      open.push(anonHttp);
      expect((await rejection(anonHttp.call(SEARCH, {}))).code, 'http: no credential').toBe('UNAUTHENTICATED');
      const goneHttp = await serveHttpRpc(handler);
      const goneGrpc = await serveGrpcRpc(handler);
      await goneHttp.close();
      await goneGrpc.close();
      const downHttp = httpRpcClient(goneHttp.url);
      const downGrpc = grpcRpcClient(goneGrpc.address);
      open.push(downHttp, downGrpc);
      expect((await rejection(downHttp.call(SEARCH, {}))).code, 'http: a shard that is down').toBe('UNAVAILABLE');
      expect((await rejection(downGrpc.call(SEARCH, {}))).code, 'grpc: a shard that is down').toBe('UNAVAILABLE');
      if (clients.natsAnon) {
        expect((await rejection(clients.natsAnon.call(SEARCH, w.requests[0]))).code, 'nats: no credential').toBe('UNAUTHENTICATED');
        expect((await rejection(clients.natsNobody.call(SEARCH, {}, { deadlineMs: 2_000 }))).code, 'nats: a shard that is down (nobody serves its subject)').toBe('UNAVAILABLE');
      }
    });
  });
});
