/**
 * Replicated shards as real processes (what `npm run t4:up -- --shards 2 --replicas 2 --cpus 0,1` starts): each
 * replica pinned to its CPU; the gateway's answers equal the monolith's; one replica SIGKILLed under a steady stream
 * of queries costs nothing: every answer stays complete (the replica set skips the dead replica and retries the
 * read on its twin), none partial, none a 5xx, while the supervisor restarts it.
 */
import { existsSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadEngine, type Engine } from '../engine.ts';
import { ensureSplitIndex, startSplit, type Split } from './cli-up.ts';
import { TASKSET } from './supervisor.ts';

const K = 10;
let engine: Engine;
let split: Split | undefined;
const queries: string[] = [];
const expected = new Map<string, string>();
const fmt = (hits: { chunkId: string; score: number }[]) => hits.map((h) => `${h.chunkId}:${h.score}`).join(' ');

async function ask(url: string, query: string): Promise<{ status: number; body: any }> {
  const res = await fetch(`${url}/v1/query`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query, k: K }), signal: AbortSignal.timeout(10_000) });
  return { status: res.status, body: await res.json() };
}

const pinnable = existsSync(TASKSET) && existsSync('/proc/self/status');

beforeAll(async () => {
  const index = await ensureSplitIndex();
  engine = await loadEngine(index, { llm: null });
  const size = engine.stats().chunks;
  for (let i = 0; queries.length < 16; i++) {
    const c = engine.chunk((i * 4099) % size);
    if (c) queries.push(c.text.split(/\s+/).slice(2, 8).join(' '));
  }
  for (const q of queries) expected.set(q, fmt((await engine.query(q, { k: K, answer: false })).hits));
  split = await startSplit({ index, shards: 2, replicas: 2, ...(pinnable ? { cpus: ['0', '1'] } : {}), port: 0, shardDeadlineMs: 5_000, supervisor: { log: () => {}, forwardStderr: false } });
}, 60_000);

afterAll(async () => {
  await split?.stop();
});

describe('replicated shards behind the gateway', () => {
  it.skipIf(!pinnable)('pins replica r of shard s to CPU (2s + r) mod 2', () => {
    const cpus = split!.replicas.map((rs) => rs.map((r) => /Cpus_allowed_list:\s*(\S+)/.exec(readFileSync(`/proc/${r.pid}/status`, 'utf8'))?.[1]));
    expect(cpus).toEqual([['0', '1'], ['0', '1']]);
  });

  it('answers as the monolith does, and stays complete while a replica is SIGKILLed and restarted', async () => {
    const s = split!;
    for (const q of queries) {
      const r = await ask(s.url, q);
      expect(r.status).toBe(200);
      expect(fmt(r.body.hits), `"${q}" differs from the monolith`).toBe(expected.get(q));
    }
    const victim = s.replicas[1][0];
    const oldPid = victim.pid!;
    process.kill(oldPid, 'SIGKILL');
    const t0 = Date.now();
    let n = 0;
    while (!(victim.restarts >= 1 && victim.state === 'ready') || n < 40) {
      const q = queries[n++ % queries.length];
      const r = await ask(s.url, q);
      expect(r.status, `query ${n} during the restart: ${JSON.stringify(r.body).slice(0, 200)}`).toBe(200);
      expect(r.body.partial, `query ${n}: shard(s) ${r.body.missingShards} left out though its other replica was up`).toBe(false);
      expect(fmt(r.body.hits)).toBe(expected.get(q));
      if (Date.now() - t0 > 15_000) throw new Error('the killed replica was not back within 15 s');
    }
    expect(victim.pid).not.toBe(oldPid);
  });
});
