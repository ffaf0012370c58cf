/**
 * The container entrypoint: one image runs every service of the engine, chosen by the command (t4 lesson 10).
 *
 *     docker run IMAGE gateway                         RAG_SHARD_URLS, RAG_EMBEDDER_URL, RAG_INTERNAL_TOKEN (gateway.ts)
 *     docker run IMAGE shard --shard 0 --shards 2      or env RAG_SHARD / RAG_SHARDS
 *     docker run IMAGE embedder
 *     docker run IMAGE ingest-worker --embedder URL --log NAME ...   (ingest-worker.ts flags)
 *     docker run IMAGE index                           build the index at $RAG_INDEX and exit (an init container)
 *
 * Every service listens on 0.0.0.0:$PORT (default 8080) and serves `GET /healthz` and `GET /readyz` there, as the
 * processes under the supervisor do; SIGTERM is the graceful shutdown of shard-service.ts `serviceMain`. Flags
 * after the command are passed on (a later `--port` wins over the default).
 *
 * **Where a shard's index comes from.** `$RAG_INDEX` (default `/data/index`, `/data` a volume). When it holds no
 * saved index, the shard, embedder and ingest worker build it at start from the corpus package in the image (the
 * Brown corpus, exact vectors, the same as `npm run t4:up`, ~6 s) and save it there; the next start, or another
 * container sharing the volume, loads it. Run `index` once as an init step to keep that time out of the start-up.
 * The image's root filesystem is never written: run it with `--read-only` and a volume (or tmpfs) at /data.
 */
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const COMMANDS: Record<string, { script: string; index: boolean; usage: string }> = {
  gateway: { script: 'services/gateway', index: false, usage: 'env RAG_SHARD_URLS, RAG_EMBEDDER_URL, RAG_INTERNAL_TOKEN' },
  shard: { script: 'services/shard-service', index: true, usage: '--shard N --shards M (or env RAG_SHARD, RAG_SHARDS)' },
  embedder: { script: 'services/embedder-service', index: true, usage: '' },
  'ingest-worker': { script: 'services/ingest-worker', index: true, usage: '--embedder URL --log NAME [--nats URL] [--redis URL]' },
};

const USAGE = `usage: entrypoint <command> [flags]
  gateway         the public API (${COMMANDS.gateway!.usage})
  shard           one retriever shard (${COMMANDS.shard!.usage})
  embedder        the query embedder
  ingest-worker   the write path (${COMMANDS['ingest-worker']!.usage})
  index           build the index at $RAG_INDEX (default /data/index) and exit
environment: PORT (default 8080), RAG_INDEX (default /data/index), RAG_BIND_HOST (default 0.0.0.0 in the image)
`;

/** The argv a service gets: defaults from the environment first, the caller's flags after (the last one wins). */
export function serviceArgs(command: string, rest: string[], env: NodeJS.ProcessEnv = process.env): string[] {
  const spec = COMMANDS[command];
  if (!spec) throw new Error(`unknown command '${command}' (gateway, shard, embedder, ingest-worker, index)`);
  const out: string[] = [];
  const has = (f: string) => rest.includes(`--${f}`);
  if (!has('port')) out.push('--port', env.PORT ?? '8080');
  if (command === 'gateway' && !has('host')) out.push('--host', env.RAG_BIND_HOST ?? '0.0.0.0');
  if (spec.index && !has('index')) out.push('--index', env.RAG_INDEX ?? '/data/index');
  if (command === 'shard') {
    if (!has('shard')) out.push('--shard', env.RAG_SHARD ?? '0');
    if (!has('shards')) out.push('--shards', env.RAG_SHARDS ?? '1');
  }
  // flag() in shard-service.ts takes the first occurrence: the caller's flags go first
  return [...rest, ...out];
}

function flagOf(args: string[], name: string): string | undefined {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
}

async function ensureIndexAt(dir: string): Promise<void> {
  // module paths held in variables: a bundler must not inline them (esbuild expands `import('x' + y)` as a glob)
  const buildIndexModule = `../serve/build-index${ext()}`;
  const cliUpModule = `../services/cli-up${ext()}`;
  const { hasIndex } = (await import(buildIndexModule)) as typeof import('../serve/build-index.ts');
  if (hasIndex(dir)) return;
  const { ensureSplitIndex } = (await import(cliUpModule)) as typeof import('../services/cli-up.ts');
  const t0 = performance.now();
  process.stderr.write(`entrypoint: no index at ${dir}; building it from the Brown corpus\n`);
  await ensureSplitIndex(dir, (m: string) => process.stderr.write(`  ${m}\n`));
  process.stderr.write(`entrypoint: index built in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
}

/** `.js` in the image (compiled), `.ts` under tsx (the naive image, a checkout). */
function ext(): string {
  return path.extname(fileURLToPath(import.meta.url));
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  if (!command || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(USAGE);
    process.exit(command ? 0 : 2);
  }
  if (command === 'index') {
    await ensureIndexAt(flagOf(rest, 'index') ?? process.env.RAG_INDEX ?? '/data/index');
    process.exit(0);
  }
  const spec = COMMANDS[command];
  if (!spec) {
    process.stderr.write(`error: unknown command '${command}'\n${USAGE}`);
    process.exit(2);
  }
  const args = serviceArgs(command, rest);
  if (spec.index) await ensureIndexAt(flagOf(args, 'index')!);
  const script = fileURLToPath(new URL(`../${spec.script}${ext()}`, import.meta.url));
  // the service runs its main when argv[1] is its own file (shard-service.ts serviceMain)
  process.argv = [process.argv[0]!, script, ...args];
  await import(pathToFileURL(script).href);
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).catch((err: Error) => {
    process.stderr.write(`entrypoint: ${err.message}\n`);
    process.exit(1);
  });
}
