import { afterEach, describe, expect, it } from 'vitest';
import { RagError } from '../errors.ts';
import { grpcRpcClient, jsonCodec, serveGrpcRpc, type GrpcRpcServer, type MethodCodec } from './grpc-rpc.ts';
import { RpcError, type RpcClient } from './rpc.ts';

const open: Array<GrpcRpcServer | RpcClient> = [];
afterEach(async () => {
  for (const x of open.splice(0)) await x.close();
});

async function pair(handler: Parameters<typeof serveGrpcRpc>[0], secret?: string, clientSecret = secret, codecs?: Record<string, MethodCodec<any, any>>) {
  const server = await serveGrpcRpc(handler, { secret, codecs });
  const client = grpcRpcClient(server.address, { secret: clientSecret, codecs });
  open.push(client, server);
  return { server, client };
}

async function rejection(p: Promise<unknown>): Promise<RpcError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(RpcError);
    return err as RpcError;
  }
  throw new Error('the call resolved; an error was expected');
}

/** A codec that frames a Float32Array as its raw bytes (and counts its use), to see the method-specific path taken. */
function floatCodec(counter: { n: number }): MethodCodec<Float32Array, Float32Array> {
  const enc = (v: Float32Array) => {
    counter.n++;
    return new Uint8Array(v.buffer.slice(v.byteOffset, v.byteOffset + v.byteLength));
  };
  // a copy into a fresh ArrayBuffer: a Buffer's slice() is a view of its (shared, unaligned) pool
  const dec = (b: Uint8Array) => new Float32Array(Uint8Array.prototype.slice.call(b).buffer);
  return { encodeRequest: enc, decodeRequest: dec, encodeResponse: enc, decodeResponse: dec };
}

describe('grpc-rpc', () => {
  it('answers a call with the handler result (JSON fallback) and counts calls per method', async () => {
    const { server, client } = await pair(async (method, req) => ({ method, echo: req }), 's3cret');
    expect(await client.call('search', { q: 'x', k: 3 })).toEqual({ method: 'search', echo: { q: 'x', k: 3 } });
    await client.call('other.method', {});
    expect(server.calls.get('search')).toBe(1);
    expect(server.calls.get('other.method')).toBe(1);
  });

  it('carries a method with a codec of its own on its own path, bytes in and out', async () => {
    const counter = { n: 0 };
    const { server, client } = await pair(async (_m, req) => (req as Float32Array).map((x) => x * 2), undefined, undefined, { double: floatCodec(counter) });
    const out = await client.call<Float32Array>('double', Float32Array.of(1.5, -2, 1e-7));
    expect(out).toBeInstanceOf(Float32Array);
    expect(Array.from(out)).toEqual(Array.from(Float32Array.of(3, -4, 2e-7)));
    expect(counter.n).toBe(2); // request encoded by the client, response by the server
    expect(server.calls.get('double')).toBe(1);
  });

  it('refuses a call without the right credential with UNAUTHENTICATED, and never runs the handler', async () => {
    let ran = 0;
    const { client } = await pair(async () => ++ran, 's3cret', 'wrong');
    expect((await rejection(client.call('search', {}))).code).toBe('UNAUTHENTICATED');
    const anon = grpcRpcClient((await pair(async () => ++ran, 's3cret')).server.address);
    open.push(anon);
    expect((await rejection(anon.call('search', {}))).code).toBe('UNAUTHENTICATED');
    expect(ran).toBe(0);
  });

  it('maps handler errors to codes: RagError INVALID_INPUT → INVALID_ARGUMENT, OVERLOADED keeps retryAfterMs', async () => {
    const { client } = await pair(async (method) => {
      if (method === 'bad') throw new RagError('INVALID_INPUT', 'k must be >= 1');
      if (method === 'boom') throw new Error('kaput');
      throw new RpcError('OVERLOADED', 'queue full', '', 2000);
    });
    const bad = await rejection(client.call('bad', {}));
    expect(bad.code).toBe('INVALID_ARGUMENT');
    expect(bad.message).toContain('k must be >= 1');
    const shed = await rejection(client.call('busy', {}));
    expect(shed.code).toBe('OVERLOADED');
    expect(shed.retryAfterMs).toBe(2000);
    expect(shed.retryable).toBe(true);
    expect((await rejection(client.call('boom', {}))).code).toBe('INTERNAL');
  });

  it('answers a request its codec cannot decode with INVALID_ARGUMENT', async () => {
    const strict: MethodCodec = { ...jsonCodec, decodeRequest: () => { throw new Error('truncated message'); } };
    const server = await serveGrpcRpc(async () => 1, { codecs: { m: strict } });
    const client = grpcRpcClient(server.address, { codecs: { m: jsonCodec } });
    open.push(client, server);
    const err = await rejection(client.call('m', {}));
    expect(err.code).toBe('INVALID_ARGUMENT');
    expect(err.message).toContain('truncated message');
  });

  it('passes the deadline to the callee, which sees its signal fire; the caller gets DEADLINE_EXCEEDED', async () => {
    let seenBudget: number | undefined;
    let calleeAborted = false;
    const { client } = await pair(async (_m, _r, ctx) => {
      seenBudget = ctx.deadlineMs;
      await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve(), { once: true }));
      calleeAborted = true;
      return 'late';
    });
    const err = await rejection(client.call('slow', {}, { deadlineMs: 80 }));
    expect(err.code).toBe('DEADLINE_EXCEEDED');
    expect(seenBudget).toBeGreaterThan(0);
    expect(seenBudget).toBeLessThanOrEqual(80);
    await new Promise((r) => setTimeout(r, 100));
    expect(calleeAborted).toBe(true);
  });

  it('an aborted signal rejects with CANCELLED, and the callee sees it', async () => {
    let calleeAborted = false;
    const { client } = await pair(async (_m, _r, ctx) => {
      await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve(), { once: true }));
      calleeAborted = true;
      return 'late';
    });
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 30);
    expect((await rejection(client.call('slow', {}, { signal: ac.signal }))).code).toBe('CANCELLED');
    await new Promise((r) => setTimeout(r, 60));
    expect(calleeAborted).toBe(true);
  });

  it('reports a target that is down as UNAVAILABLE (retryable)', async () => {
    const server = await serveGrpcRpc(async () => 1);
    const address = server.address;
    await server.close();
    const client = grpcRpcClient(address);
    open.push(client);
    const err = await rejection(client.call('search', {}));
    expect(err.code).toBe('UNAVAILABLE');
    expect(err.retryable).toBe(true);
  });
});
