/**
 * The gateway process over replicated shards: gateway.ts's `Gateway` and HTTP app, with one `ReplicaSet`
 * (replica-set.ts) per shard instead of one client. `npm run t4:up -- --replicas R` starts it when R > 1.
 *
 *     RAG_SHARD_REPLICAS='[["http://127.0.0.1:4001","http://127.0.0.1:4002"],["http://127.0.0.1:4003", …]]'
 *     RAG_REPLICA_PICK=<module exporting `pick`>   optional: the pick rule to balance with (lesson t4/05's exercise)
 *     RAG_EMBEDDER_URL, RAG_INTERNAL_TOKEN, RAG_GATEWAY_SERVER, RAG_SHARD_DEADLINE_MS: as gateway.ts reads them
 *
 * Its own entry point only because gateway.ts's `startGateway` builds one plain client per shard URL; once
 * `startGateway` takes the shard clients (or URL lists), this file is that call.
 */
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createGatewayApp, Gateway, type GatewayServerOptions } from './gateway.ts';
import { httpRpcClient } from './http-rpc.ts';
import { ReplicaSet, type PickRule } from './replica-set.ts';
import { flag, serviceMain } from './shard-service.ts';

export interface ReplicaGatewayEnv {
  /** Shard i's replica URLs at index i. */
  shardReplicas: string[][];
  embedderUrl: string;
  secret: string | undefined;
  server: GatewayServerOptions;
  shardDeadlineMs?: number;
  /** A module exporting `pick` (a `PickRule`) to balance with instead of `leastOutstanding` (lesson t4/05's exercise). */
  pickModule?: string;
}

/** Starts the gateway with a replica set per shard, the HTTP server on `port`; ready once every shard answered `stats`. */
export async function startReplicaGateway(env: ReplicaGatewayEnv, port: number, host = '127.0.0.1'): Promise<{ url: string; gateway: Gateway; sets: ReplicaSet[]; close(): Promise<void> }> {
  const client = (url: string) => httpRpcClient(url, { secret: env.secret, connections: 32 });
  const pick = env.pickModule ? ((await import(pathToFileURL(env.pickModule).href)) as { pick: PickRule }).pick : undefined;
  const sets = env.shardReplicas.map((urls, i) => new ReplicaSet(urls.map(client), { name: `shard-${i}`, ...(pick ? { pick } : {}) }));
  let lastLog = 0;
  const onMissing = (s: number, why: string) => {
    if (Date.now() - lastLog < 1000) return;
    lastLog = Date.now();
    process.stderr.write(`gateway: shard ${s} (every replica) left out of an answer (flagged partial): ${why}\n`);
  };
  const gateway = new Gateway({ shards: sets, embedder: client(env.embedderUrl), shardDeadlineMs: env.shardDeadlineMs, onMissing });
  const ac = new AbortController();
  void gateway.initWhenReady(200, ac.signal).catch(() => {});
  const app = await createGatewayApp(gateway, env.server);
  await app.listen({ port, host });
  const addr = app.server.address() as { port: number };
  return {
    url: `http://${host}:${addr.port}`,
    gateway,
    sets,
    close: async () => {
      ac.abort();
      await app.close();
      await gateway.close();
    },
  };
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const env: ReplicaGatewayEnv = {
    shardReplicas: JSON.parse(process.env.RAG_SHARD_REPLICAS ?? '[]') as string[][],
    embedderUrl: process.env.RAG_EMBEDDER_URL ?? '',
    secret: process.env.RAG_INTERNAL_TOKEN,
    server: JSON.parse(process.env.RAG_GATEWAY_SERVER ?? '{"auth":false}') as GatewayServerOptions,
    shardDeadlineMs: process.env.RAG_SHARD_DEADLINE_MS ? Number(process.env.RAG_SHARD_DEADLINE_MS) : undefined,
    pickModule: process.env.RAG_REPLICA_PICK || undefined,
  };
  serviceMain('gateway', () => startReplicaGateway(env, Number(flag('port', '0')), flag('host', '127.0.0.1')));
}
