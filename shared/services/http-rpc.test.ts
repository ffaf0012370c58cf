import { afterEach, describe, expect, it } from 'vitest';
import { RagError } from '../errors.ts';
import { httpRpcClient, serveHttpRpc, type HttpRpcServer } from './http-rpc.ts';
import { RpcError, type RpcClient } from './rpc.ts';

const open: Array<HttpRpcServer | RpcClient> = [];
afterEach(async () => {
  for (const x of open.splice(0)) await x.close();
});

async function pair(handler: Parameters<typeof serveHttpRpc>[0], secret?: string, clientSecret = secret) {
  const server = await serveHttpRpc(handler, { secret });
  const client = httpRpcClient(server.url, { secret: clientSecret });
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

describe('http-rpc', () => {
  it('answers a call with the handler result and counts calls per method', async () => {
    const { server, client } = await pair(async (method, req) => ({ method, echo: req }), 's3cret');
    expect(await client.call('search', { q: 'x', k: 3 })).toEqual({ method: 'search', echo: { q: 'x', k: 3 } });
    await client.call('search', {}, { deadlineMs: 250.7 }); // a fractional budget (what remains of a deadline) is fine
    expect(server.calls.get('search')).toBe(2);
  });

  it('refuses a call without the right credential with UNAUTHENTICATED, and never runs the handler', async () => {
    let ran = 0;
    const { client } = await pair(async () => ++ran, 's3cret', 'wrong');
    const err = await rejection(client.call('search', {}));
    expect(err.code).toBe('UNAUTHENTICATED');
    expect(ran).toBe(0);
  });

  it('maps handler errors to codes: RagError INVALID_INPUT → INVALID_ARGUMENT, OVERLOADED keeps Retry-After', async () => {
    const { client } = await pair(async (method) => {
      if (method === 'bad') throw new RagError('INVALID_INPUT', 'k must be >= 1');
      throw new RpcError('OVERLOADED', 'queue full', '', 2000);
    });
    const bad = await rejection(client.call('bad', {}));
    expect(bad.code).toBe('INVALID_ARGUMENT');
    expect(bad.message).toContain('k must be >= 1');
    expect(bad.retryable).toBe(false);
    const shed = await rejection(client.call('busy', {}));
    expect(shed.code).toBe('OVERLOADED');
    expect(shed.retryAfterMs).toBe(2000);
    expect(shed.retryable).toBe(true);
  });

  it('passes the deadline budget to the callee, which sees its signal fire; the caller gets DEADLINE_EXCEEDED', async () => {
    let seenBudget: number | undefined;
    let calleeAborted = false;
    const { client } = await pair(async (_m, _r, ctx) => {
      seenBudget = ctx.deadlineMs;
      await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve(), { once: true }));
      calleeAborted = true;
      return 'late';
    });
    const err = await rejection(client.call('slow', {}, { deadlineMs: 50 }));
    expect(err.code).toBe('DEADLINE_EXCEEDED');
    expect(seenBudget).toBe(50);
    await new Promise((r) => setTimeout(r, 100));
    expect(calleeAborted).toBe(true);
  });

  it('reports a target that is down as UNAVAILABLE (retryable)', async () => {
    const server = await serveHttpRpc(async () => 1);
    const url = server.url;
    await server.close();
    const client = httpRpcClient(url);
    open.push(client);
    const err = await rejection(client.call('search', {}));
    expect(err.code).toBe('UNAVAILABLE');
    expect(err.retryable).toBe(true);
  });

  it('serves /healthz and /readyz without a credential; /readyz follows ready()', async () => {
    let ready = false;
    const server = await serveHttpRpc(async () => 1, { secret: 'x', ready: () => ready });
    open.push(server);
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${server.url}/readyz`)).status).toBe(503);
    ready = true;
    expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
  });

  it('rejects a body that is not JSON with INVALID_ARGUMENT', async () => {
    const server = await serveHttpRpc(async () => 1);
    open.push(server);
    const res = await fetch(`${server.url}/rpc/search`, { method: 'POST', body: '{nope' });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { code: string }).code).toBe('INVALID_ARGUMENT');
  });
});

describe('http-rpc close', () => {
  it('close() returns once an in-flight call is answered, though its kept-alive connection was busy when it began', async () => {
    let release!: () => void;
    const server = await serveHttpRpc(async () => {
      await new Promise<void>((r) => (release = r));
      return 'done';
    });
    const client = httpRpcClient(server.url);
    open.push(client);
    const call = client.call('slow', {});
    await new Promise((r) => setTimeout(r, 50));
    const t0 = Date.now();
    const closed = server.close();
    release();
    expect(await call).toBe('done');
    await closed;
    expect(Date.now() - t0).toBeLessThan(2_000); // not the 65 s keep-alive timeout
  });
});
