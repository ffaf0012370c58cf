/**
 * What keys and rate limits cost a query answered from the results cache (the cheapest request, where a fixed
 * per-request cost shows most): µs per request through Fastify's inject (no network), same query, five rounds of
 * 20,000 per configuration, interleaved. Needs Redis at REDIS_URL (default 127.0.0.1:6379) for the Redis row.
 *
 *     npx tsx shared/serve/bench-access.ts
 */
import { createServer, type ServerOptions } from './app.ts';
import { createEngine } from '../engine.ts';
import { loadBrown } from '../corpus/brown.ts';
import { generateKey } from './auth.ts';
const engine = await createEngine({ llm: null });
await engine.ingest(await loadBrown({ limit: 30 }));
const key = generateKey('bench', ['read', 'write']);
const configs: Array<[string, ServerOptions, Record<string, string>]> = [
  ['default', { auth: { keys: [key.record] } }, {}],
  ['readlimit-memory', { auth: { keys: [key.record] }, rateLimit: { read: 1e9 } }, {}],
  ['readlimit-redis', { auth: { keys: [key.record] }, rateLimit: { read: 1e9, redisUrl: process.env.REDIS_URL || 'redis://127.0.0.1:6379' } }, {}],
  ['keyed-reads', { auth: { keys: [key.record], readAccess: 'key' } }, { authorization: `Bearer ${key.key}` }],
  ['auth-false', { auth: false }, {}],
];
const N = 20000;
const res: Record<string, number[]> = {};
const servers = await Promise.all(configs.map(([, o]) => createServer({ engine, maxEventLoopDelayMs: 0, ...o })));
const payload = JSON.stringify({ query: 'grand jury election', k: 10 });
for (let round = 0; round < 5; round++) {
  for (const [i, [name, , headers]] of configs.entries()) {
    const app = servers[i].app;
    const t0 = performance.now();
    for (let j = 0; j < N; j++) {
      const r = await app.inject({ method: 'POST', url: '/v1/query', headers: { 'content-type': 'application/json', ...headers }, payload });
      if (r.statusCode !== 200) throw new Error(name + r.statusCode);
    }
    (res[name] ??= []).push(((performance.now() - t0) * 1000) / N);
  }
}
for (const [n, v] of Object.entries(res)) { v.sort((a, b) => a - b); console.log(n.padEnd(18), 'µs/request: median', v[2].toFixed(1), 'min', v[0].toFixed(1), 'all', v.map((x) => x.toFixed(0)).join(' ')); }
await Promise.all(servers.map((s) => s.close()));
