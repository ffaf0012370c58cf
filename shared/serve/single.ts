/**
 * `npm run serve -- --workers 1`: the server in this process. Writes go through a Sequencer here (createServer's
 * default) or, with REDIS_URL, through a BullMQ queue consumed in this same process (writes.ts).
 */
import { randomBytes } from 'node:crypto';
import { createServer, type RagServer } from './app.ts';
import { loadServingEngine, redisCache, type ServeConfig } from './config.ts';
import { onceSignal } from './shutdown.ts';
import { QueueWritePath, Sequencer, startQueueConsumer } from './writes.ts';

export async function serveSingle(cfg: ServeConfig): Promise<RagServer> {
  const namespace = randomBytes(6).toString('hex');
  const queueName = `rag-writes-${namespace}`;
  const queue = cfg.redisUrl ? new QueueWritePath({ redisUrl: cfg.redisUrl, name: queueName }) : undefined;
  const rc = redisCache(cfg.redisUrl, namespace, cfg.logger);
  const server = await createServer({
    ...cfg.server,
    logger: cfg.logger,
    writes: queue,
    cache: cfg.server.cache === false ? false : { ...cfg.server.cache, ...rc },
  });
  server.setEngine(await loadServingEngine(cfg.indexDir, cfg.engine));
  const consumer = queue
    ? startQueueConsumer({ redisUrl: cfg.redisUrl!, name: queueName }, new Sequencer((v, op) => server.applySequenced(v, op)))
    : undefined;
  await queue?.ready();
  const url = await server.listen(cfg.port, cfg.host);
  cfg.logger.warn({ url, index: cfg.indexDir, writes: queue ? 'bullmq' : 'in-process' }, 'serving');
  const shutdown = onceSignal(async () => {
    cfg.logger.warn('shutting down: finishing in-flight requests');
    await server.close();
    await consumer?.close();
    rc?.redis.disconnect();
  });
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
  return server;
}
