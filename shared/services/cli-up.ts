/**
 * `npm run t4:up`: the engine split into services on loopback, under one supervisor.
 *
 *     npm run t4:up -- --shards 2 --port 8080
 *     npm run t4:up -- --shards 2 --replicas 2 --cpus 0,1    # each shard as 2 processes, pinned (t4 lesson 05)
 *
 * Starts N retriever shards and the embedder (each its own process, 127.0.0.1, ephemeral ports, the service
 * credential in their environment), then the gateway on --port, and prints the gateway's URL on stdout. Progress and
 * restart reasons go to stderr. Ctrl-C (SIGINT) or SIGTERM stops everything. `startSplit` is the same start-up for
 * tests and lessons.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureIndex, hasIndex } from '../serve/build-index.ts';
import { ACCESS_FLAGS, ACCESS_USAGE, accessOptions, prepareKeys } from '../serve/access-cli.ts';
import { fail, numberFlag, parseCli } from '../util/cli.ts';
import { REPO_ROOT } from '../util/paths.ts';
import type { GatewayServerOptions } from './gateway.ts';
import { Supervisor, type Service, type SupervisorOptions } from './supervisor.ts';

/** The index the split serves by default: the Brown corpus with exact vectors (built on first start, ~6 s). */
export const DEFAULT_SPLIT_INDEX = '.cache/idx-brown-flat';

/** Builds the default index (Brown, exact vectors) when `dir` holds none. */
export async function ensureSplitIndex(dir = path.resolve(REPO_ROOT, DEFAULT_SPLIT_INDEX), log?: (m: string) => void): Promise<string> {
  try {
    return await ensureIndex(dir, { engine: { vector: { kind: 'flat' } }, log });
  } catch (err) {
    // another process built it at the same time and renamed its copy into place first
    if (hasIndex(dir)) return dir;
    throw err;
  }
}

export interface SplitOptions {
  /** A saved index with exact vectors. */
  index: string;
  shards: number;
  /** The gateway's port; 0 = ephemeral. */
  port: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Keys and limits of the gateway; default open (loopback development). */
  server?: GatewayServerOptions;
  /** Per-shard deadline of the gateway, ms (default the gateway's, 1000). */
  shardDeadlineMs?: number;
  supervisor?: SupervisorOptions;
  /** Extra environment of every service. */
  env?: Record<string, string>;
  /** A module exporting `searchShards` for the gateway to fan out with (a lesson's exercise); default the engine's. */
  fanOutModule?: string;
  /** Processes per shard, each a full copy of its part; the gateway balances over them (replica-set.ts). Default 1. */
  replicas?: number;
  /**
   * CPU lists (`taskset -c`) the retriever processes are pinned to, in turn: replica r of shard s gets
   * `cpus[(s × replicas + r) % cpus.length]`. Default: not pinned.
   */
  cpus?: string[];
  /** CPU list of the gateway and of the embedder (`taskset -c`); default not pinned. */
  gatewayCpus?: string;
  embedderCpus?: string;
  /**
   * Take writes (t4 lesson 09): the write log's name. Shards follow it (NATS JetStream, NATS_URL), an ingest worker
   * writes it (jobs on Redis, REDIS_URL), the gateway serves POST/DELETE /v1/documents (gateway-writes.ts).
   */
  writeLog?: string;
}

export interface Split {
  supervisor: Supervisor;
  gateway: Service;
  /** The first replica of each shard (all of them when `replicas` is 1). */
  shards: Service[];
  /** Every replica: `replicas[s][r]` is replica r of shard s. */
  replicas: Service[][];
  embedder: Service;
  /** The ingest worker (with `writeLog`). */
  ingest?: Service;
  url: string;
  /** Starts another gateway over the same shards and embedder (a lesson measures the learner's fan-out beside the engine's). */
  addGateway(name: string, fanOutModule?: string): Promise<Service>;
  /**
   * Starts another gateway over the URLs given per shard (`shardUrls[s]`: the replicas, or one balancer's URL); a shard
   * with more than one URL is balanced by a ReplicaSet (gateway.ts `shardReplicas`).
   */
  addGatewayOver(name: string, shardUrls: string[][], opts?: { cpus?: string; pickModule?: string }): Promise<Service>;
  stop(): Promise<void>;
}

/** Starts the shards and the embedder (in parallel), then the gateway; resolves when all are ready. */
export async function startSplit(opts: SplitOptions): Promise<Split> {
  const sup = new Supervisor(opts.supervisor);
  const env = opts.env ?? {};
  try {
    const R = opts.replicas ?? 1;
    const pin = (cpus: string | undefined) => (cpus !== undefined ? { cpus } : {});
    const shardCpus = (s: number, r: number) => (opts.cpus && opts.cpus.length > 0 ? opts.cpus[(s * R + r) % opts.cpus.length] : undefined);
    const [embedder, ...flat] = await Promise.all([
      sup.start({ name: 'embedder', script: 'shared/services/embedder-service.ts', args: ['--index', opts.index], env, ...pin(opts.embedderCpus) }),
      ...Array.from({ length: opts.shards * R }, (_, j) => {
        const [i, r] = [Math.floor(j / R), j % R];
        return sup.start({
          name: R === 1 ? `shard-${i}` : `shard-${i}.${r}`,
          script: 'shared/services/shard-service.ts',
          args: [
            ...['--index', opts.index, '--shard', String(i), '--shards', String(opts.shards)],
            ...(opts.writeLog ? ['--log', opts.writeLog, '--replica-id', R === 1 ? `shard-${i}` : `shard-${i}.${r}`] : []),
          ],
          env,
          ...pin(shardCpus(i, r)),
        });
      }),
    ]);
    const replicas = Array.from({ length: opts.shards }, (_, i) => flat.slice(i * R, (i + 1) * R));
    const shards = replicas.map((r) => r[0]);
    const startGateway = (name: string, port: number, fanOutModule: string | undefined, shardUrls = replicas.map((r) => r.map((s) => s.url)), cpus = opts.gatewayCpus, pickModule?: string) =>
      sup.start({
        name,
        script: 'shared/services/gateway.ts',
        args: ['--host', opts.host ?? '127.0.0.1'],
        port,
        ...pin(cpus),
        env: {
          ...env,
          RAG_SHARD_URLS: shardUrls.map((u) => u[0]).join(','),
          RAG_SHARD_REPLICAS: JSON.stringify(shardUrls),
          RAG_EMBEDDER_URL: embedder.url,
          RAG_GATEWAY_SERVER: JSON.stringify(opts.server ?? { auth: false }),
          ...(opts.shardDeadlineMs !== undefined ? { RAG_SHARD_DEADLINE_MS: String(opts.shardDeadlineMs) } : {}),
          ...(fanOutModule !== undefined ? { RAG_GATEWAY_FANOUT: path.resolve(fanOutModule) } : {}),
          ...(pickModule !== undefined ? { RAG_REPLICA_PICK: path.resolve(pickModule) } : {}),
          ...(opts.writeLog ? { RAG_WRITE_LOG: opts.writeLog } : {}),
        },
      });
    const ingest = opts.writeLog
      ? await sup.start({ name: 'ingest', script: 'shared/services/ingest-worker.ts', args: ['--index', opts.index, '--embedder', embedder.url, '--log', opts.writeLog], env })
      : undefined;
    const gateway = await startGateway('gateway', opts.port, opts.fanOutModule);
    return {
      supervisor: sup,
      gateway,
      shards,
      replicas,
      embedder,
      ingest,
      url: gateway.url,
      addGateway: (name, fanOutModule) => startGateway(name, 0, fanOutModule),
      addGatewayOver: (name, shardUrls, o = {}) => startGateway(name, 0, undefined, shardUrls, o.cpus ?? opts.gatewayCpus, o.pickModule),
      stop: () => sup.stop(),
    };
  } catch (err) {
    await sup.stop();
    throw err;
  }
}

const USAGE = `
Usage: npm run t4:up -- [--shards N] [--replicas R] [--cpus LIST] [--port P] [--index <dir>] [options]

The engine split into services on loopback (t4_scalable_architecture/00-service-split): N retriever shards, the
embedder and the gateway, each its own process under one supervisor that restarts whatever dies. Prints the
gateway's URL on stdout; progress on stderr. Ctrl-C stops everything.

  POST <url>/v1/query {query, k?, mode?}  → {hits, timings, partial, missingShards}

Options:
  --shards N               retriever shards (default 2)
  --replicas R             processes per shard, each a full copy of its part; the gateway balances over them
                           (least outstanding calls, a replica that is down skipped; t4 lesson 05). Default 1
  --cpus LIST              pin the retriever processes to CPUs, in turn, with taskset: '0,1' puts replica r of
                           shard s on CPU (s×R + r) mod 2; '0-1/2-3' (slash-separated lists) gives each a set.
                           Default: not pinned
  --write-log NAME         take writes (POST/DELETE /v1/documents): shards follow the write log NAME on NATS
                           JetStream (NATS_URL), an ingest worker takes jobs from Redis (REDIS_URL). Default: read-only
  --port P                 the gateway's port (default 8080; 0 = any free port)
  --host H                 the gateway's address (default 127.0.0.1; the internal services always listen on
                           127.0.0.1 and answer only calls carrying the per-run service credential)
  --index <dir>            a saved index with exact vectors (npm run index -- --vector flat …); default
                           ${DEFAULT_SPLIT_INDEX}, built from the Brown corpus on first start
  --prometheus-sd DIR      write Prometheus file_sd targets (DIR/<job>.json) and the scrape credential
                           (DIR/token, mode 0600) for deploy/prometheus/prometheus.yml (its default: .cache/prom-sd)
  --shard-deadline-ms MS   how long the gateway waits for each shard before answering without it, flagged
                           partial (default 1000)
  -h, --help               show this help
${ACCESS_USAGE}
`;

async function main(): Promise<void> {
  const { values } = parseCli(USAGE, {
    shards: { type: 'string' },
    port: { type: 'string' },
    host: { type: 'string' },
    index: { type: 'string' },
    'shard-deadline-ms': { type: 'string' },
    replicas: { type: 'string' },
    cpus: { type: 'string' },
    'write-log': { type: 'string' },
    'prometheus-sd': { type: 'string' },
    ...ACCESS_FLAGS,
  });
  const shards = numberFlag('shards', values.shards, 2, (n) => Number.isInteger(n) && n >= 1 && n <= 64);
  const port = numberFlag('port', values.port ?? process.env.PORT, 8080, (n) => Number.isInteger(n) && n >= 0 && n < 65536);
  const host = values.host ?? '127.0.0.1';
  const replicas = numberFlag('replicas', values.replicas, 1, (n) => Number.isInteger(n) && n >= 1 && n <= 64);
  const cpus = values.cpus === undefined ? undefined : values.cpus.includes('/') ? values.cpus.split('/') : values.cpus.split(',');
  if (cpus && cpus.some((c) => !/^\d+(-\d+)?(,\d+(-\d+)?)*$/.test(c))) fail(`--cpus ${values.cpus}: expected CPU numbers like 0,1 or lists like 0-1/2-3`, 2);
  const shardDeadlineMs = numberFlag('shard-deadline-ms', values['shard-deadline-ms'], 1000, (n) => n > 0);
  const log = (m: string) => process.stderr.write(`${m}\n`);
  const access = accessOptions(values, host, process.env.REDIS_URL || undefined);
  prepareKeys(access.keysFile, (m) => log(`warning: ${m}`));
  const server: GatewayServerOptions = { auth: access.server.auth ?? false, rateLimit: access.server.rateLimit };
  let index: string;
  if (values.index) index = path.resolve(values.index);
  else {
    log(`index: ${DEFAULT_SPLIT_INDEX} (built from the Brown corpus on first start)`);
    index = await ensureSplitIndex(undefined, (m) => log(`index: ${m}`));
  }
  log(`starting ${shards} shard(s)${replicas > 1 ? ` × ${replicas} replicas` : ''}, the embedder and the gateway…`);
  const split = await startSplit({ index, shards, replicas, cpus, port, host, server, shardDeadlineMs, supervisor: { log }, writeLog: values['write-log'] });
  log(`ready: gateway ${split.url} → embedder ${split.embedder.url}, shards ${split.replicas.map((r) => r.map((s) => s.url).join('|')).join(' ')}`);
  if (values['prometheus-sd']) {
    // t4/15: Prometheus' file_sd targets and the credential it scrapes /metrics with (deploy/prometheus/prometheus.yml)
    const { writePrometheusSd } = await import('../observe/prom-sd.ts');
    const targets = [
      { job: 'gateway' as const, url: split.url },
      { job: 'embedder' as const, url: split.embedder.url },
      ...split.replicas.flatMap((r, i) => r.map((s, j) => ({ job: 'shard' as const, url: s.url, labels: { shard: String(i), replica: String(j) } }))),
      ...(split.ingest ? [{ job: 'ingest' as const, url: split.ingest.url }] : []),
    ];
    const dir = path.resolve(values['prometheus-sd']);
    writePrometheusSd(dir, targets, split.supervisor.secret);
    log(`prometheus: file_sd targets and token in ${dir} (deploy/prometheus/prometheus.yml reads .cache/prom-sd)`);
  }
  process.stdout.write(`${split.url}\n`);
  let stopping = false;
  const stop = (sig: string) => {
    if (stopping) return;
    stopping = true;
    log(`${sig}: stopping every service…`);
    split.stop().then(() => process.exit(0));
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err: Error) => fail(err.message, 1));
}
