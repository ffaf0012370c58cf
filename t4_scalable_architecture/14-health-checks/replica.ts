/**
 * One replica of a service for lesson 14, as a process: the engine's embedder service (embedder-service.ts's handler
 * over http-rpc.ts, the same /healthz and /readyz), whose requests also count in Redis (one INCR per call: the usage
 * counter a rate limiter keeps, as the gateway's does with REDIS_URL), with its probes and its SIGTERM handling
 * taken from a policy module (before.ts, after.ts, exercise.ts or a wrong/ one): `liveness`, `readiness`, `plan`,
 * `shutdown`.
 *
 *     node --import tsx t4_scalable_architecture/14-health-checks/replica.ts --index .cache/idx-brown-flat \
 *       --policy t4_scalable_architecture/14-health-checks/after.ts --redis redis://127.0.0.1:6379 \
 *       [--port 0] [--hold-ms 50] [--cold-start-ms 0] [--startup-ms 3000] [--key-prefix ragl14]
 *
 * - Start-up: `--cold-start-ms` of waiting (a cold disk, a busy node), the embedder state read from the index, the
 *   port bound, then warm-up (the first embeds): `/readyz` 503 until then (`warm` false).
 * - A call (`embed`) INCRs `<key-prefix>:calls` in Redis (fails fast, UNAVAILABLE, while Redis is away: no offline
 *   queue), holds for `--hold-ms` (the rest of a real request's time: a shard search, a generated answer; a timer,
 *   not CPU, so several replicas fit on two cores), then embeds.
 * - Health seen by the policy: the event loop's longest delay over the last second, warm, Redis's last PING (every
 *   250 ms) answered PONG within 1 s, SIGTERM received.
 * - SIGTERM: `policy.shutdown(steps, plan)`: `notReady` flips `shuttingDown`, `drain` is http-rpc's close (stops
 *   accepting, in-flight calls finish, kept-alive connections close once idle), `cutAll` closes every connection,
 *   `exit` exits. A closed IPC channel (the driver gone) exits at once.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Redis } from 'ioredis';
import { embedderHandler, embedderOfIndex } from '../../shared/services/embedder-service.ts';
import { serveHttpRpc } from '../../shared/services/http-rpc.ts';
import { RpcError } from '../../shared/services/rpc.ts';
import { flag } from '../../shared/services/shard-service.ts';
import type { PodHealth } from './after.ts';

type Policy = typeof import('./after.ts');

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  const policy = (await import(pathToFileURL(path.resolve(flag('policy'))).href)) as Policy;
  const holdMs = Number(flag('hold-ms', '50'));
  const plan = policy.plan({ startupMs: Number(flag('startup-ms', '3000')), longestRequestMs: holdMs + 250 });
  const prefix = flag('key-prefix', 'ragl14');
  const loop = monitorEventLoopDelay({ resolution: 20 });
  loop.enable();
  let loopMaxMs = 0;
  setInterval(() => {
    loopMaxMs = loop.max / 1e6;
    loop.reset();
  }, 1_000).unref();
  const health = { warm: false, shuttingDown: false, redisOk: false };
  const state = (): PodHealth => ({
    eventLoopDelayMs: loopMaxMs,
    warm: health.warm,
    depsOk: health.redisOk,
    shuttingDown: health.shuttingDown,
  });

  await sleep(Number(flag('cold-start-ms', '0')));
  const embedder = await embedderOfIndex(flag('index'));
  const redis = new Redis(flag('redis'), { enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => 100, lazyConnect: false });
  redis.on('error', () => {}); // reconnects by itself; the PING below is what the probes see
  const ping = setInterval(() => {
    // the last PING's outcome: PONG, or an error / no answer within 1 s (a starved process that has not asked yet is not "Redis down")
    Promise.race([redis.ping(), sleep(1_000).then(() => 'timeout')]).then(
      (r) => (health.redisOk = r === 'PONG'),
      () => (health.redisOk = false),
    );
  }, 250);
  ping.unref();

  const embed = embedderHandler(embedder);
  const server = await serveHttpRpc(
    async (method, body, ctx) => {
      try {
        await redis.incr(`${prefix}:calls`);
      } catch (err) {
        throw new RpcError('UNAVAILABLE', `Redis: ${(err as Error).message}`);
      }
      await sleep(holdMs);
      return embed(method, body, ctx);
    },
    {
      port: Number(flag('port', '0')),
      live: () => policy.liveness(state()),
      ready: () => policy.readiness(state()),
      closeGraceMs: 3_600_000, // the policy's drain deadline decides, not http-rpc's
    },
  );
  process.stderr.write(`replica: listening on ${server.url}\n`);
  process.send?.({ type: 'listening', url: server.url });
  // warm: the first embeds load the word table's pages and JIT the path (/readyz 503 until then)
  await embedder.embed(['warm up the embedder', 'a second phrase to warm'], {});
  health.warm = true;
  process.on('disconnect', () => process.exit(0));
  let stopping = false;
  process.on('SIGTERM', () => {
    if (stopping) return;
    stopping = true;
    void policy.shutdown(
      {
        notReady: () => {
          health.shuttingDown = true;
        },
        drain: () => server.close(),
        cutAll: () => server.server.closeAllConnections(),
        exit: (code) => {
          redis.disconnect();
          process.exit(code);
        },
        sleep,
      },
      plan,
    );
  });
}

main().catch((err: Error) => {
  process.stderr.write(`replica: failed to start: ${err.message}\n`);
  process.exit(1);
});
