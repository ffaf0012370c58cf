/**
 * The gateway's circuit breakers as deployed (`startGateway` with `breaker`, env RAG_GATEWAY_BREAKER; compose.yml and
 * deploy/k8s set it): with shard 1's server gone, the circuit of shard-1 opens after its failures in a row, answers are
 * flagged partial without waiting for the shard, GET /metrics says `rag_breaker_state{target="shard-1"} 2` (open),
 * and once the shard serves again on the same address, a probe closes the circuit and answers are whole again.
 * Without `breaker` the gateway exports no breaker state (nothing to export). And the variable's values, bad ones
 * refused with what is expected.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadEngine, type Engine } from '../engine.ts';
import { ensureSplitIndex } from './cli-up.ts';
import { embedderHandler } from './embedder-service.ts';
import { breakerFromEnv, startGateway } from './gateway.ts';
import { serveHttpRpc, type HttpRpcServer } from './http-rpc.ts';
import { partFromEngine, shardHandler } from './shard-service.ts';

describe('RAG_GATEWAY_BREAKER', () => {
  it('off when unset, empty or "off"; the defaults with "on"; a JSON object as given', () => {
    expect(breakerFromEnv(undefined)).toBeUndefined();
    expect(breakerFromEnv('')).toBeUndefined();
    expect(breakerFromEnv('off')).toBeUndefined();
    expect(breakerFromEnv('on')).toEqual({ consecutiveFailures: 5, halfOpenAfterMs: 1000 });
    expect(breakerFromEnv('{"consecutiveFailures": 3, "halfOpenAfterMs": 250}')).toEqual({ consecutiveFailures: 3, halfOpenAfterMs: 250 });
    expect(breakerFromEnv('{"halfOpenAfterMs": 2000}')).toEqual({ consecutiveFailures: 5, halfOpenAfterMs: 2000 });
  });

  it('refuses anything else, saying what it expects', () => {
    expect(() => breakerFromEnv('yes')).toThrow(/off, on or a JSON object/);
    expect(() => breakerFromEnv('{"consecutiveFailures": 0}')).toThrow(/integer ≥ 1/);
    expect(() => breakerFromEnv('{"consecutiveFailure": 5}')).toThrow(/expected/);
    expect(() => breakerFromEnv('[5]')).toThrow(/expected/);
  });
});

describe('startGateway with a breaker: a dead shard', () => {
  const SECRET = 'breaker-test-secret';
  let engine: Engine;
  const servers: (HttpRpcServer | undefined)[] = [];
  let gw: Awaited<ReturnType<typeof startGateway>> | undefined;
  let plain: Awaited<ReturnType<typeof startGateway>> | undefined;

  beforeAll(async () => {
    engine = await loadEngine(await ensureSplitIndex(), { llm: null });
    for (let i = 0; i < 2; i++) servers.push(await serveHttpRpc(shardHandler(partFromEngine(engine, i, 2)), { service: `shard-${i}`, secret: SECRET }));
    servers.push(await serveHttpRpc(embedderHandler(engine.embedder), { service: 'embedder', secret: SECRET }));
    const env = { shardUrls: [servers[0]!.url, servers[1]!.url], embedderUrl: servers[2]!.url, secret: SECRET, server: { auth: false as const }, shardDeadlineMs: 2_000 };
    gw = await startGateway({ ...env, breaker: { consecutiveFailures: 3, halfOpenAfterMs: 300 } }, 0);
    plain = await startGateway(env, 0);
    for (let i = 0; i < 100 && !(gw.gateway.ready && plain.gateway.ready); i++) await new Promise((r) => setTimeout(r, 50));
  }, 120_000);

  afterAll(async () => {
    await gw?.close();
    await plain?.close();
    await Promise.all(servers.map((s) => s?.close()));
  });

  const query = async (url: string) => {
    const r = await fetch(`${url}/v1/query`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: 'jury investigation of the election', k: 5 }) });
    expect(r.status).toBe(200);
    return (await r.json()) as { partial: boolean; missingShards: number[]; hits: unknown[] };
  };
  const breakerState = async (url: string, target: string): Promise<number | undefined> => {
    const text = await (await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${SECRET}` } })).text();
    const m = new RegExp(`^rag_breaker_state\\{[^}]*target="${target}"[^}]*\\} (\\d+)$`, 'm').exec(text);
    return m ? Number(m[1]) : undefined;
  };

  it('opens on the dead shard (flagged answers, state 2 in /metrics), and closes once it serves again', async () => {
    expect(gw!.gateway.ready).toBe(true);
    expect((await query(gw!.url)).partial).toBe(false);
    expect(await breakerState(gw!.url, 'shard-1'), 'closed while the shard answers').toBe(0);

    const url1 = servers[1]!.url;
    await servers[1]!.close();
    servers[1] = undefined;
    for (let i = 0; i < 5; i++) {
      const a = await query(gw!.url);
      expect(a.partial, 'an answer without shard 1 is flagged').toBe(true);
      expect(a.missingShards).toEqual([1]);
    }
    expect(await breakerState(gw!.url, 'shard-1'), 'open after 3 failures in a row').toBe(2);
    expect(await breakerState(gw!.url, 'shard-0')).toBe(0);

    // the shard back on its address: after the cool-down a probe goes through and closes the circuit
    servers[1] = await serveHttpRpc(shardHandler(partFromEngine(engine, 1, 2)), { service: 'shard-1', secret: SECRET, port: Number(new URL(url1).port) });
    let whole = false;
    for (let i = 0; i < 50 && !whole; i++) {
      await new Promise((r) => setTimeout(r, 100));
      whole = !(await query(gw!.url)).partial;
    }
    expect(whole, 'answers whole again within 5 s of the shard serving again').toBe(true);
    expect(await breakerState(gw!.url, 'shard-1')).toBe(0);
  }, 60_000);

  it('a gateway without a breaker exports no breaker state', async () => {
    expect(await breakerState(plain!.url, 'shard-0')).toBeUndefined();
  });
});
