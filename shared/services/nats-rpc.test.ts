/** Needs a NATS server (NATS_URL, default 127.0.0.1:4222); skips with a message when there is none. */
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { RagError } from '../errors.ts';
import type { MethodCodec } from './grpc-rpc.ts';
import { natsRpcClient, natsSkipReason, serveNatsRpc, type NatsRpcServer } from './nats-rpc.ts';
import { RpcError, type RpcClient } from './rpc.ts';

const skip = await natsSkipReason();
if (skip) console.warn(`nats-rpc tests skipped: ${skip}`);

const open: Array<NatsRpcServer | RpcClient> = [];
afterEach(async () => {
  for (const x of open.splice(0)) await x.close();
});

/** A subject of its own per test: other users of the same server never see these calls. */
const subject = () => `test.rpc.${randomBytes(4).toString('hex')}`;

async function pair(handler: Parameters<typeof serveNatsRpc>[0], secret?: string, clientSecret = secret, codecs?: Record<string, MethodCodec<any, any>>) {
  const s = subject();
  const server = await serveNatsRpc(handler, { subject: s, secret, codecs });
  const client = natsRpcClient({ subject: s, secret: clientSecret, codecs });
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

describe.skipIf(skip !== undefined)('nats-rpc', () => {
  it('answers a call with the handler result and counts calls per method (methods may contain dots)', async () => {
    const { server, client } = await pair(async (method, req) => ({ method, echo: req }), 's3cret');
    expect(await client.call('shard.search', { q: 'x', k: 3 })).toEqual({ method: 'shard.search', echo: { q: 'x', k: 3 } });
    expect(server.calls.get('shard.search')).toBe(1);
  });

  it('uses a method codec when both sides have it', async () => {
    const codec: MethodCodec<number[], number[]> = {
      encodeRequest: (v) => new Uint8Array(Float64Array.from(v).buffer),
      decodeRequest: (b) => Array.from(new Float64Array(Uint8Array.prototype.slice.call(b).buffer)),
      encodeResponse: (v) => new Uint8Array(Float64Array.from(v).buffer),
      decodeResponse: (b) => Array.from(new Float64Array(Uint8Array.prototype.slice.call(b).buffer)),
    };
    const { client } = await pair(async (_m, req) => (req as number[]).map((x) => x + 1), undefined, undefined, { inc: codec });
    expect(await client.call('inc', [0.1, 2])).toEqual([1.1, 3]);
  });

  it('refuses a call without the right credential with UNAUTHENTICATED, and never runs the handler', async () => {
    let ran = 0;
    const { client } = await pair(async () => ++ran, 's3cret', 'wrong');
    expect((await rejection(client.call('search', {}))).code).toBe('UNAUTHENTICATED');
    const s = subject();
    const server = await serveNatsRpc(async () => ++ran, { subject: s, secret: 's3cret' });
    const anon = natsRpcClient({ subject: s });
    open.push(anon, server);
    expect((await rejection(anon.call('search', {}))).code).toBe('UNAUTHENTICATED');
    expect(ran).toBe(0);
  });

  it('maps handler errors to codes: INVALID_INPUT → INVALID_ARGUMENT, OVERLOADED keeps retryAfterMs', async () => {
    const { client } = await pair(async (method) => {
      if (method === 'bad') throw new RagError('INVALID_INPUT', 'k must be >= 1');
      throw new RpcError('OVERLOADED', 'queue full', '', 2000);
    });
    const bad = await rejection(client.call('bad', {}));
    expect(bad.code).toBe('INVALID_ARGUMENT');
    expect(bad.message).toContain('k must be >= 1');
    const shed = await rejection(client.call('busy', {}));
    expect(shed.code).toBe('OVERLOADED');
    expect(shed.retryAfterMs).toBe(2000);
  });

  it('passes the deadline as a header; the callee sees its signal fire; the caller gets DEADLINE_EXCEEDED', async () => {
    let seenBudget: number | undefined;
    let calleeAborted = false;
    const { client } = await pair(async (_m, _r, ctx) => {
      seenBudget = ctx.deadlineMs;
      await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve(), { once: true }));
      calleeAborted = true;
      return 'late';
    });
    const err = await rejection(client.call('slow', {}, { deadlineMs: 60 }));
    expect(err.code).toBe('DEADLINE_EXCEEDED');
    expect(seenBudget).toBe(60);
    await new Promise((r) => setTimeout(r, 80));
    expect(calleeAborted).toBe(true);
  });

  it('a subject nobody serves is UNAVAILABLE (no responders), and so is a broker that cannot be reached', async () => {
    const client = natsRpcClient({ subject: subject() });
    open.push(client);
    const none = await rejection(client.call('search', {}, { deadlineMs: 2_000 }));
    expect(none.code).toBe('UNAVAILABLE');
    expect(none.message).toContain('no service subscribed');
    const nowhere = natsRpcClient({ subject: subject(), servers: '127.0.0.1:1', connectOptions: { reconnect: false, timeout: 500 } });
    open.push(nowhere);
    expect((await rejection(nowhere.call('search', {}))).code).toBe('UNAVAILABLE');
  });
});
