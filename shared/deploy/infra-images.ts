/**
 * The infrastructure images of the composed stack (deploy/compose/), made from this machine's own Debian binaries:
 * no registry is reachable here, so `redis:7` or `nats:2` cannot be pulled. Each image is a root filesystem of the
 * host's binary and the libraries `ldd` names for it (shared/deploy/rootfs.ts `importRootfsImage`), then one small
 * `docker build` layer that creates the data folder owned by the non-root user `app` (uid 10001) and sets `USER`:
 * a named volume mounted there starts as a copy of that folder, so the server can write it without running as root.
 *
 *     const tags = await ensureInfraImages({ log: (l) => process.stderr.write(l + '\n') });
 *     tags.redis      // 'rag-lab/redis:debian'   redis-server + redis-cli (the healthcheck's `ping`)
 *     tags.nats       // 'rag-lab/nats:debian'    nats-server (JetStream in /data/jetstream) + curl (its /healthz)
 *     tags.postgres   // 'rag-lab/postgres:15'    postgres, initdb, pg_isready + /bin/sh (initdb runs its steps through it)
 *     tags.prometheus // 'rag-lab/prometheus:debian'  prometheus + curl (its /-/ready)
 *     tags.haproxy    // 'rag-lab/haproxy:debian'  haproxy + curl (its monitor URI), compose.ha.yml's balancer
 *
 * | image | from the host | data folder (owned by app) | health probe in the image |
 * | :--- | :--- | :--- | :--- |
 * | redis | /usr/bin/redis-server, /usr/bin/redis-cli | /data | `redis-cli ping` |
 * | nats | /usr/sbin/nats-server, /usr/bin/curl | /data/jetstream | `curl -fsS :8222/healthz?js-enabled-only=true` |
 * | postgres | /usr/lib/postgresql/15/bin/{postgres,initdb,pg_isready}, /usr/share/postgresql/15, its lib/ | /var/lib/postgresql/data | `pg_isready` |
 * | prometheus | /usr/bin/prometheus, /usr/bin/promtool, /usr/bin/curl | /prometheus | `curl -fsS :9090/-/ready` |
 * | haproxy | /usr/sbin/haproxy, /usr/bin/curl | - | `curl -fsS :8080/lb-healthz` |
 *
 * Cached twice: the rootfs by the content hash of its inputs (rootfs.ts), the final layer by the classic builder's
 * cache; a second call with nothing changed takes well under a second. Errors name what is missing (a binary not
 * installed: `apt-get install redis-server nats-server postgresql-15 prometheus`).
 *
 * Run it alone: `node --import tsx shared/deploy/infra-images.ts [--help]` builds the four and prints their tags and sizes.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { APP_USER, docker, imageSize, importRootfsImage } from './rootfs.ts';

export type InfraName = 'redis' | 'nats' | 'postgres' | 'prometheus' | 'haproxy';

export interface InfraImageSpec {
  /** The final tag (runs as `app`). */
  tag: string;
  /** Executables copied with their libraries. */
  binaries: string[];
  files?: string[];
  dirs?: string[];
  /** Folders created in the image, owned by app (a named volume mounted there inherits it). */
  dataDirs: string[];
  env?: Record<string, string>;
}

const PG = '/usr/lib/postgresql/15';

/** What each image is made of. Tags are prefixed `rag-lab/` (this lab's images, never someone else's). */
export const INFRA_IMAGES: Record<InfraName, InfraImageSpec> = {
  redis: { tag: 'rag-lab/redis:debian', binaries: ['/usr/bin/redis-server', '/usr/bin/redis-cli'], dataDirs: ['/data'] },
  nats: {
    tag: 'rag-lab/nats:debian',
    binaries: ['/usr/sbin/nats-server', '/usr/bin/curl'],
    dataDirs: ['/data/jetstream'],
    env: { PATH: '/usr/local/bin:/usr/sbin:/usr/bin:/bin' },
  },
  postgres: {
    tag: 'rag-lab/postgres:15',
    // initdb runs the bootstrap backend through /bin/sh (popen); the entry command is a one-line sh script too
    binaries: [`${PG}/bin/postgres`, `${PG}/bin/initdb`, `${PG}/bin/pg_isready`, '/usr/bin/dash'],
    files: ['/bin/sh'],
    dirs: ['/usr/share/postgresql/15', `${PG}/lib`, '/usr/share/zoneinfo'],
    dataDirs: ['/var/lib/postgresql/data', '/var/run/postgresql'],
    env: { PATH: `${PG}/bin:/usr/local/bin:/usr/bin:/bin`, PGDATA: '/var/lib/postgresql/data' },
  },
  prometheus: { tag: 'rag-lab/prometheus:debian', binaries: ['/usr/bin/prometheus', '/usr/bin/promtool', '/usr/bin/curl'], dataDirs: ['/prometheus'] },
  // the balancer of compose.ha.yml (its config mounted read-only; nothing written)
  haproxy: { tag: 'rag-lab/haproxy:debian', binaries: ['/usr/sbin/haproxy', '/usr/bin/curl'], dataDirs: [], env: { PATH: '/usr/local/bin:/usr/sbin:/usr/bin:/bin' } },
};

/** The images of compose.yml (haproxy is compose.ha.yml's). */
export const BASE_INFRA: readonly InfraName[] = ['redis', 'nats', 'postgres', 'prometheus'];

/** The host binaries and folders the images need that this machine lacks (empty: all there). */
export function infraMissing(names: readonly InfraName[] = BASE_INFRA): string[] {
  const out: string[] = [];
  for (const n of names) {
    const s = INFRA_IMAGES[n];
    for (const p of [...s.binaries, ...(s.files ?? []), ...(s.dirs ?? [])]) if (!existsSync(p) && !out.includes(p)) out.push(p);
  }
  return out;
}

/** How to install what `infraMissing` names (Debian packages). */
export const INFRA_PACKAGES = 'apt-get install redis-server nats-server postgresql-15 prometheus haproxy curl';

export interface EnsureInfraOptions {
  /** Which images; default BASE_INFRA (all but haproxy: only compose.ha.yml runs it). */
  only?: readonly InfraName[];
  /** Progress lines. Default none. */
  log?: (line: string) => void;
}

/** Builds (or reuses) the infrastructure images; returns their tags. */
export async function ensureInfraImages(opts: EnsureInfraOptions = {}): Promise<Record<InfraName, string>> {
  const names = opts.only ?? BASE_INFRA;
  const out = {} as Record<InfraName, string>;
  // one at a time: each import tars and copies tens of MB, and the machine is shared
  for (const name of names) out[name] = await ensureInfraImage(name, opts.log);
  return out;
}

/** One infrastructure image: rootfs (cached by content) + a layer with the data folders owned by app, USER app. */
export async function ensureInfraImage(name: InfraName, log: (line: string) => void = () => {}): Promise<string> {
  const spec = INFRA_IMAGES[name];
  if (!spec) throw new Error(`no infrastructure image '${name}' (one of ${Object.keys(INFRA_IMAGES).join(', ')})`);
  const missing = infraMissing([name]);
  if (missing.length) throw new Error(`image ${spec.tag}: ${missing.join(', ')} not on this machine (${INFRA_PACKAGES})`);
  const base = await importRootfsImage({
    tag: `${spec.tag}-rootfs`,
    binaries: spec.binaries,
    files: spec.files,
    dirs: spec.dirs,
    env: spec.env,
    labels: { 'rag-lab.infra': name },
    log,
  });
  // A build context of one empty folder: COPY --chown creates each data folder owned by app without a shell in the
  // image (the classic builder runs no command for COPY).
  const ctx = mkdtempSync(path.join(tmpdir(), `rag-infra-${name}-`));
  try {
    mkdirSync(path.join(ctx, 'empty'));
    const lines = [`FROM ${base}`, ...spec.dataDirs.map((d) => `COPY --chown=${APP_USER.uid}:${APP_USER.gid} empty/ ${d}/`), `USER ${APP_USER.uid}:${APP_USER.gid}`];
    writeFileSync(path.join(ctx, 'Dockerfile'), lines.join('\n') + '\n');
    const t0 = Date.now();
    await docker(['build', '-q', '-t', spec.tag, ctx]);
    log(`image ${spec.tag}: ready in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  } finally {
    rmSync(ctx, { recursive: true, force: true });
  }
  return spec.tag;
}

const HELP = `Usage: node --import tsx shared/deploy/infra-images.ts [--only redis,nats,postgres,prometheus,haproxy]

Builds the stack's infrastructure images from this machine's Debian binaries (no registry needed) and prints each
tag with its size. Needs Docker (apt-get install docker.io, dockerd running) and the binaries
(apt-get install redis-server nats-server postgresql-15 prometheus haproxy curl). Default: all but haproxy.`;

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(HELP + '\n');
    process.exit(0);
  }
  const i = args.indexOf('--only');
  const only = i >= 0 ? (args[i + 1] ?? '').split(',').filter(Boolean) : undefined;
  const bad = only?.filter((n) => !(n in INFRA_IMAGES));
  if (bad?.length) {
    process.stderr.write(`error: unknown image ${bad.join(', ')} (one of ${Object.keys(INFRA_IMAGES).join(', ')})\n`);
    process.exit(2);
  }
  ensureInfraImages({ only: only as InfraName[] | undefined, log: (l) => process.stderr.write(l + '\n') }).then(
    async (tags) => {
      for (const t of Object.values(tags)) process.stdout.write(`${t}\t${((await imageSize(t)) / 1e6).toFixed(1)} MB\n`);
    },
    (err: Error) => {
      process.stderr.write(`error: ${err.message}\n`);
      process.exit(1);
    },
  );
}
