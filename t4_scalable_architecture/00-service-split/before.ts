/**
 * Before the split: the monolith. One process holds every part of the index, so a query is all-or-nothing: if the
 * process is down or stuck, every query fails; there is no "the other half of the index" to answer from. The bench's
 * `before` is that process (`npm run serve` over the same index, `startMonolith` below), measured over HTTP beside the
 * gateway.
 *
 * Its `searchShards` is the fan-out written the way the in-process coordinator (`ShardedIndex.search`,
 * shared/index/sharded.ts) does it, moved across the network unchanged: collection statistics and a merge by score,
 * so a full set of shards answers exactly like one index, and `Promise.all`, so one shard that fails fails the whole
 * query and one that hangs holds it until the client gives up. That is the monolith's all-or-nothing, kept by the
 * split: the checkpoint accepts its answers on a full set of shards and leaves the failure checks to after.ts.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mergeTopK, queryStats } from '../../shared/index/sharded.ts';
import { ServeProcess, TEST_ENV } from '../../shared/serve/test-process.ts';
import type { RpcClient } from '../../shared/services/rpc.ts';
import type { ChunkView, ShardSearchReply, ShardSearchRequest } from '../../shared/services/shard-service.ts';
import type { FanOutOptions, FanOutResult, ShardQueryInput } from './after.ts';

export type { FanOutOptions, FanOutResult, ShardQueryInput } from './after.ts';

export async function searchShards(shards: readonly RpcClient[], query: ShardQueryInput, opts: FanOutOptions): Promise<FanOutResult> {
  const req: ShardSearchRequest = { k: opts.k };
  if (query.tokens && query.tokens.length > 0) {
    req.tokens = [...query.tokens];
    req.stats = { docs: opts.stats.docs, totalLength: opts.stats.totalLength, df: [...queryStats(opts.stats, query.tokens).df] };
  }
  if (query.vector) req.vector = Array.from(query.vector);
  const answers = await Promise.all(shards.map((s) => s.call<ShardSearchReply>('search', req, { signal: opts.signal })));
  const chunks = new Map<number, ChunkView>();
  for (const a of answers) for (const [label, c] of Object.entries(a.chunks)) chunks.set(Number(label), c);
  return {
    text: mergeTopK(answers.map((a) => a.text), opts.k),
    dense: mergeTopK(answers.map((a) => a.dense), opts.k),
    chunks,
    missingShards: [],
    errors: [],
  };
}

/**
 * The monolith as its own process: `npm run serve` over `index` on a free loopback port, keys off (loopback), no
 * results cache (the gateway has none: both compute every answer), no load shedding on event-loop lag, a data
 * directory of its own. Resolves when it serves.
 */
export async function startMonolith(index: string): Promise<{ url: string; pid: number; close(): Promise<void> }> {
  const dataDir = await mkdtemp(join(tmpdir(), 't4-monolith-'));
  const p = new ServeProcess(['--index', index, '--data-dir', dataDir, '--cache-entries', '0', '--max-lag-ms', '0', '--deadline-ms', '10000'], TEST_ENV);
  await p.start();
  try {
    await p.waitServing(90_000);
  } catch (err) {
    await p.stop();
    await rm(dataDir, { recursive: true, force: true });
    throw err;
  }
  return {
    url: p.base,
    pid: p.child.pid!,
    close: async () => {
      await p.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
