/**
 * The engine's container images, built here without a registry (t4 lesson 10).
 *
 *     const tag = await ensureAppImage({ variant: 'multistage' });   // 'rag-lab/rag:multistage'
 *     docker run --rm -p 8080 rag-lab/rag:multistage gateway         // one image, every service (entrypoint.ts)
 *
 * Two base images, each a root filesystem of this machine's own files (rootfs.ts), because nothing can be pulled:
 *
 * | tag | holds | used by |
 * | :--- | :--- | :--- |
 * | `rag-lab/node-base:20` | node + the libraries `ldd` names, passwd/group with `app` (10001), /tmp | the runtime stage |
 * | `rag-lab/node-build:20` | the above + npm, /bin/sh, the CA bundle | the dependency/build stages, the naive image |
 *
 * And two application images from the repository root:
 *
 * | variant | Dockerfile | context |
 * | :--- | :--- | :--- |
 * | `naive` | `Dockerfile.naive`: one stage, `COPY . .` (node_modules with dev deps, caches, reports), root, tsx | the whole checkout but .git, as a tar (no .dockerignore: the naive author has none) |
 * | `multistage` | `Dockerfile`: lockfile → `npm ci` → compile → runtime of what the services import, non-root | the root, filtered by `.dockerignore` |
 *
 * Each is built once per content hash of its inputs (label `rag-lab.context-hash`): a second call with nothing
 * changed returns in well under a second without running `docker build`; a changed input runs the build, which the
 * classic builder's layer cache makes cheap when only source changed. The multi-stage build needs the npm registry
 * once (its `npm ci` runs with `--network host`); later builds reuse that layer until package-lock.json changes.
 *
 * Run it alone: `node --import tsx shared/deploy/images.ts [--variant naive|multistage|both] [--force]`.
 */
import { createHash } from 'node:crypto';
import { cpSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { REPO_ROOT } from '../util/paths.ts';
import { docker, imageExists, imageSize, importRootfsImage } from './rootfs.ts';

export const BASE_TAG = 'rag-lab/node-base:20';
export const BUILD_BASE_TAG = 'rag-lab/node-build:20';
export type AppVariant = 'naive' | 'multistage';
export const APP_TAGS: Record<AppVariant, string> = { naive: 'rag-lab/rag:naive', multistage: 'rag-lab/rag:multistage' };
export const CONTEXT_HASH_LABEL = 'rag-lab.context-hash';
/** The CA bundle the build stages trust (TLS to the registry may be intercepted; the host's bundle knows the interceptor). */
export const CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';
/** Where the host's npm lives (copied into the build base). */
export const NPM_DIR = process.env.RAG_NPM_DIR ?? '/usr/lib/node_modules/npm';

export interface ImageLog {
  log?: (line: string) => void;
}

/** The runtime base: node and its libraries, nothing else (no shell, no npm, no CA bundle). */
export function ensureBaseImage(opts: ImageLog = {}): Promise<string> {
  return importRootfsImage({ tag: BASE_TAG, binaries: [process.execPath], cmd: ['node'], log: opts.log, labels: { 'rag-lab.role': 'runtime-base' } });
}

/** The build base: the runtime base's files plus npm, /bin/sh and the CA bundle (for `npm ci` in the dependency stage). */
export function ensureBuildBaseImage(opts: ImageLog = {}): Promise<string> {
  if (!existsSync(path.join(NPM_DIR, 'bin', 'npm-cli.js'))) throw new Error(`npm not found at ${NPM_DIR} (set RAG_NPM_DIR to the folder holding bin/npm-cli.js)`);
  return importRootfsImage({
    tag: BUILD_BASE_TAG,
    binaries: [process.execPath, '/bin/sh'],
    files: [CA_BUNDLE],
    dirs: [NPM_DIR],
    env: { NODE_EXTRA_CA_CERTS: CA_BUNDLE, npm_config_cafile: CA_BUNDLE, npm_config_update_notifier: 'false', npm_config_fund: 'false', npm_config_audit: 'false' },
    cmd: ['node'],
    log: opts.log,
    labels: { 'rag-lab.role': 'build-base' },
  });
}

export interface AppImageOptions extends ImageLog {
  variant: AppVariant;
  /** Image tag; default APP_TAGS[variant]. */
  tag?: string;
  /** Run `docker build` even when the content hash matches (the layer cache still applies). Default false. */
  force?: boolean;
  /** `docker build --no-cache` (a cold build). Default false. */
  noCache?: boolean;
  /**
   * Use the tag as it is when it exists, whatever its content hash. For the naive image, whose hash covers every file
   * of the checkout (any edit anywhere, a report written, changes it, and its rebuild copies 1.3 GB): tests and quick
   * runs that only need *a* naive image pass true. Default false.
   */
  reuse?: boolean;
}

export interface AppImageBuild {
  tag: string;
  /** False when the tag with the same content hash already existed (no build ran). */
  built: boolean;
  /** Wall time of this call, s. */
  seconds: number;
  sizeBytes: number;
}

/** The app image of `variant`, built when its inputs changed; returns the tag. */
export async function ensureAppImage(opts: AppImageOptions): Promise<string> {
  return (await buildAppImage(opts)).tag;
}

/** As `ensureAppImage`, with what it did and how long it took. */
export async function buildAppImage(opts: AppImageOptions): Promise<AppImageBuild> {
  const t0 = performance.now();
  const log = opts.log ?? (() => {});
  const tag = opts.tag ?? APP_TAGS[opts.variant];
  if (opts.variant !== 'naive' && opts.variant !== 'multistage') throw new Error(`unknown image variant '${String(opts.variant)}' (naive or multistage)`);
  if (opts.reuse && !opts.force && !opts.noCache && (await imageExists(tag))) {
    log(`image ${tag}: reused as it is (reuse: true)`);
    return { tag, built: false, seconds: (performance.now() - t0) / 1000, sizeBytes: await imageSize(tag) };
  }
  const buildBase = await ensureBuildBaseImage(opts);
  const base = opts.variant === 'multistage' ? await ensureBaseImage(opts) : buildBase;
  const baseIds = (await docker(['image', 'inspect', '--format', '{{.Id}}', base, buildBase])).stdout.trim();
  const hash = contextHash(opts.variant, baseIds);
  if (!opts.force && !opts.noCache) {
    const have = await docker(['image', 'inspect', '--format', `{{index .Config.Labels "${CONTEXT_HASH_LABEL}"}}`, tag], { allowFail: true });
    if (have.code === 0 && have.stdout.trim() === hash) {
      log(`image ${tag}: up to date (${hash})`);
      return { tag, built: false, seconds: (performance.now() - t0) / 1000, sizeBytes: await imageSize(tag) };
    }
  }
  log(`image ${tag}: building (${opts.variant}, context ${hash})`);
  const common = ['build', '--network', 'host', '--label', `${CONTEXT_HASH_LABEL}=${hash}`, '-t', tag, ...(opts.noCache ? ['--no-cache'] : [])];
  const onLine = progress(log);
  if (opts.variant === 'multistage') {
    await docker([...common, '--build-arg', `BASE=${BASE_TAG}`, '--build-arg', `BUILD_BASE=${BUILD_BASE_TAG}`, '-f', 'Dockerfile', '.'], { cwd: REPO_ROOT, onLine });
  } else {
    // the naive author has no .dockerignore: send the whole checkout (but .git) as the context
    const tar = spawn('tar', ['-C', REPO_ROOT, '-cf', '-', '--exclude=./.git', '--exclude=./.dockerignore', '.'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const tarDone = new Promise<number>((r) => tar.on('close', (c) => r(c ?? 1)));
    let tarErr = '';
    tar.stderr.setEncoding('utf8').on('data', (d: string) => (tarErr += d));
    await docker([...common, '--build-arg', `BASE=${BUILD_BASE_TAG}`, '-f', 'Dockerfile.naive', '-'], { input: tar.stdout, onLine });
    const c = await tarDone;
    // tar exits 1 when a file changed while it was read (another process writing reports/): the image is still usable
    if (c > 1) throw new Error(`naive image context: tar failed (exit ${c}): ${tarErr.trim().slice(-300)}`);
  }
  const seconds = (performance.now() - t0) / 1000;
  const sizeBytes = await imageSize(tag);
  log(`image ${tag}: built in ${seconds.toFixed(1)} s, ${(sizeBytes / 1e6).toFixed(0)} MB`);
  return { tag, built: true, seconds, sizeBytes };
}

/**
 * What the build reads, hashed. Multi-stage: the files `.dockerignore` lets through, by content (they are small).
 * Naive: every file but .git, by path, size and modification time (node_modules alone is > 1 GB).
 */
export function contextHash(variant: AppVariant, baseIds: string): string {
  const h = createHash('sha256');
  h.update(`${variant}\0${baseIds}\0`);
  if (variant === 'multistage') {
    for (const rel of multistageContextFiles()) {
      h.update(`${rel}\0`);
      h.update(readFileSync(path.join(REPO_ROOT, rel)));
    }
  } else {
    const walk = (rel: string) => {
      for (const e of readdirSync(path.join(REPO_ROOT, rel), { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
        const r = rel ? `${rel}/${e.name}` : e.name;
        if (r === '.git' || r === '.dockerignore') continue;
        if (e.isDirectory()) walk(r);
        else {
          const st = lstatSync(path.join(REPO_ROOT, r));
          h.update(`${r}\0${st.size}\0${st.mtimeMs}\n`);
        }
      }
    };
    walk('');
  }
  return h.digest('hex').slice(0, 16);
}

/**
 * The files of the multi-stage context (what `.dockerignore` lets through), relative to the root. Mirrors the
 * allow-list in .dockerignore: it starts with `*` and re-includes only these.
 */
export function multistageContextFiles(): string[] {
  const out: string[] = [];
  const lines = readFileSync(path.join(REPO_ROOT, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l.startsWith('!'));
  const excludes = readFileSync(path.join(REPO_ROOT, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#') && !l.startsWith('!') && l !== '*');
  const excluded = (rel: string) => excludes.some((x) => globMatch(x, rel));
  const add = (rel: string) => {
    const abs = path.join(REPO_ROOT, rel);
    if (!existsSync(abs)) return;
    if (statSync(abs).isDirectory()) {
      for (const e of readdirSync(abs).sort()) add(`${rel}/${e}`);
    } else if (!excluded(rel)) out.push(rel);
  };
  for (const l of lines) add(l.slice(1).replace(/\/$/, ''));
  for (const f of ['Dockerfile', '.dockerignore']) out.push(f);
  return [...new Set(out)].sort();
}

/** Docker's .dockerignore patterns, enough of them: `**` any folders, `*` within one name. */
function globMatch(pattern: string, rel: string): boolean {
  const re = pattern
    .replace(/^\//, '')
    .split('**/')
    .join('\u0000')
    .split('**')
    .map((part) => part.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('[^/]*'))
    .join('.*')
    .split('\u0000')
    .join('(?:.*/)?');
  return new RegExp(`^${re}(/.*)?$`).test(rel);
}

/**
 * Builds a Dockerfile given as text (a learner's, t4 lesson 10 `--impl exercise`) with the multi-stage context
 * (the repository root through .dockerignore) and the lab's two bases. Returns the tag and the wall time.
 */
export async function buildFromDockerfile(text: string, tag: string, opts: ImageLog = {}): Promise<AppImageBuild> {
  const t0 = performance.now();
  await ensureBuildBaseImage(opts);
  await ensureBaseImage(opts);
  const dir = mkdtempSync(path.join(tmpdir(), 'ragl10-df-'));
  try {
    const file = path.join(dir, 'Dockerfile');
    writeFileSync(file, text);
    await docker(['build', '--network', 'host', '-t', tag, '--build-arg', `BASE=${BASE_TAG}`, '--build-arg', `BUILD_BASE=${BUILD_BASE_TAG}`, '-f', file, '.'], { cwd: REPO_ROOT, onLine: progress(opts.log) });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const seconds = (performance.now() - t0) / 1000;
  return { tag, built: true, seconds, sizeBytes: await imageSize(tag) };
}

/**
 * How long `variant` takes to rebuild after a one-line change in `file` (default shared/engine.ts), with the layer
 * cache warm from the last build. The checkout is not touched: the build reads a copy of its context (for the naive
 * image, hard links of the whole checkout, so the copy is instant) with a comment appended to `file`. The image it
 * makes is removed again. Returns seconds.
 */
export async function measureRebuild(variant: AppVariant, opts: ImageLog & { file?: string } = {}): Promise<number> {
  const file = opts.file ?? 'shared/engine.ts';
  // the warm cache the rebuild starts from (any existing naive image will do: its hash moves with every file)
  await ensureAppImage({ variant, log: opts.log, reuse: variant === 'naive' });
  const dir = mkdtempSync(path.join(tmpdir(), 'ragl10-rebuild-'));
  const tag = `${APP_TAGS[variant]}-rebuild`;
  try {
    if (variant === 'multistage') {
      for (const rel of multistageContextFiles()) {
        mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
        cpSync(path.join(REPO_ROOT, rel), path.join(dir, rel));
      }
    } else {
      await run('cp', ['-al', `${REPO_ROOT}/.`, dir]);
      rmSync(path.join(dir, '.git'), { recursive: true, force: true });
      rmSync(path.join(dir, '.dockerignore'), { force: true });
    }
    const target = path.join(dir, file);
    const text = readFileSync(target, 'utf8');
    rmSync(target); // a hard link: never write through it into the checkout
    writeFileSync(target, `${text}\n// one-line change ${new Date().toISOString()}\n`);
    const t0 = performance.now();
    if (variant === 'multistage') {
      await docker(['build', '--network', 'host', '-t', tag, '--build-arg', `BASE=${BASE_TAG}`, '--build-arg', `BUILD_BASE=${BUILD_BASE_TAG}`, '-f', 'Dockerfile', '.'], { cwd: dir, onLine: progress(opts.log) });
    } else {
      const tar = spawn('tar', ['-C', dir, '-cf', '-', '.'], { stdio: ['ignore', 'pipe', 'ignore'] });
      await docker(['build', '--network', 'host', '-t', tag, '--build-arg', `BASE=${BUILD_BASE_TAG}`, '-f', 'Dockerfile.naive', '-'], { input: tar.stdout, onLine: progress(opts.log) });
    }
    const seconds = (performance.now() - t0) / 1000;
    opts.log?.(`image ${APP_TAGS[variant]}: rebuilt after a one-line change in ${file} in ${seconds.toFixed(1)} s`);
    return seconds;
  } finally {
    await docker(['rmi', '-f', tag], { allowFail: true });
    rmSync(dir, { recursive: true, force: true });
  }
}

function progress(log?: (l: string) => void): (l: string) => void {
  return (l) => {
    if (log && /^Step \d+\/\d+ : RUN|^Successfully built|error|ERR!/i.test(l)) log(`  ${l.trim().slice(0, 160)}`);
  };
}

function run(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const c = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    c.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    c.on('error', reject);
    c.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} ${args.join(' ')} failed (exit ${code}): ${err.trim().slice(-300)}`))));
  });
}

/** Removes the lab's app images (not the bases, which other lessons share). */
export async function removeAppImages(): Promise<void> {
  for (const t of Object.values(APP_TAGS)) if (await imageExists(t)) await docker(['rmi', '-f', t], { allowFail: true });
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(
      'usage: node --import tsx shared/deploy/images.ts [--variant naive|multistage|both] [--force] [--no-cache]\n' +
        '  Builds the lab images (rag-lab/node-base:20, rag-lab/node-build:20, rag-lab/rag:<variant>) when their inputs\n' +
        '  changed, and prints tag, size and build time. Needs Docker (apt-get install docker.io; start dockerd).\n',
    );
    process.exit(0);
  }
  const i = args.indexOf('--variant');
  const which = i >= 0 ? args[i + 1] : 'both';
  if (!['naive', 'multistage', 'both'].includes(which ?? '')) {
    process.stderr.write(`error: --variant must be naive, multistage or both (got ${which})\n`);
    process.exit(2);
  }
  const variants: AppVariant[] = which === 'both' ? ['multistage', 'naive'] : [which as AppVariant];
  const log = (l: string) => process.stderr.write(`${l}\n`);
  (async () => {
    for (const v of variants) {
      const r = await buildAppImage({ variant: v, force: args.includes('--force'), noCache: args.includes('--no-cache'), log });
      process.stdout.write(`${r.tag}\t${(r.sizeBytes / 1e6).toFixed(0)} MB\t${r.built ? `built in ${r.seconds.toFixed(1)} s` : 'cached'}\n`);
    }
  })().catch((err: Error) => {
    process.stderr.write(`error: ${err.message}\n`);
    process.exit(1);
  });
}
