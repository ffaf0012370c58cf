/**
 * Base images without a registry: a root filesystem made from this machine's own files, `docker import`ed.
 *
 * No image can be pulled here (no registry is reachable), so every image in the lab is built `FROM` one made locally:
 * the host's `node` binary, the shared libraries `ldd` names for it (and the loader), a passwd/group with a non-root
 * user `app` (uid/gid 10001), `/tmp`, and whatever files or folders the caller adds (CA bundle, zoneinfo, npm...).
 * The result is a ~100 MB image that runs `node` and nothing else: no shell, no package manager, no compiler.
 *
 *     const tag = await importRootfsImage({ tag: 'rag-lab/node-base:20', binaries: ['/usr/bin/node'],
 *                                           dirs: ['/etc/ssl/certs'] });
 *     await docker(['run', '--rm', tag, 'node', '-e', 'console.log(1)']);
 *
 * - **Cached by content.** The inputs (paths, sizes, mtimes, link targets, env, user) are hashed; the image carries
 *   the hash as the label `rag-lab.rootfs-hash`. An image with that tag and label is reused without copying a byte
 *   (a few ms); anything else is rebuilt and the tag moved.
 * - **Libraries follow symlinks.** `ldd` prints `/lib/x86_64-linux-gnu/libc.so.6`; the file is copied there,
 *   dereferenced, so the image does not depend on the host's merged-/usr layout.
 * - **Errors say what to do.** Docker absent or not running, a binary that does not exist, an `ldd` that fails:
 *   each throws with the command that failed and its stderr.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readlinkSync, rmSync, statSync, writeFileSync, chmodSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

/** The label an imported image carries: the hash of what went into it. */
export const ROOTFS_HASH_LABEL = 'rag-lab.rootfs-hash';
/** The non-root user every lab image has. */
export const APP_USER = { name: 'app', uid: 10001, gid: 10001 } as const;

export interface DockerResult {
  stdout: string;
  stderr: string;
  code: number;
}

export interface DockerOptions {
  /** Bytes to write to docker's stdin (e.g. a tar stream for `import -`). */
  input?: Buffer | NodeJS.ReadableStream;
  /** Don't throw on a non-zero exit; return the code. Default false. */
  allowFail?: boolean;
  /** Extra environment (e.g. DOCKER_BUILDKIT=0). */
  env?: Record<string, string>;
  /** Working directory. */
  cwd?: string;
  /** Each stderr/stdout line as it arrives (progress of a build). */
  onLine?: (line: string) => void;
  /** Kill docker after this many ms. Default: none. */
  timeoutMs?: number;
}

/** Path of the docker CLI: env DOCKER_CLI, else `docker` on PATH. */
const DOCKER = process.env.DOCKER_CLI ?? 'docker';

/**
 * Runs `docker <args>`; resolves with its output, rejects with the command and stderr when it exits non-zero
 * (unless `allowFail`). `DOCKER_BUILDKIT=0` is set: Debian's docker.io has no buildx, so `docker build` uses the
 * classic builder (each Dockerfile step is a cached layer, which the lessons measure).
 */
export function docker(args: string[], opts: DockerOptions = {}): Promise<DockerResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(DOCKER, args, {
      cwd: opts.cwd,
      env: { ...process.env, DOCKER_BUILDKIT: '0', ...opts.env },
      stdio: [opts.input ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let partial = '';
    const feed = (d: string) => {
      if (!opts.onLine) return;
      partial += d;
      const lines = partial.split('\n');
      partial = lines.pop() ?? '';
      for (const l of lines) if (l.trim()) opts.onLine(l);
    };
    child.stdout!.setEncoding('utf8');
    child.stderr!.setEncoding('utf8');
    child.stdout!.on('data', (d: string) => {
      stdout += d;
      feed(d);
    });
    child.stderr!.on('data', (d: string) => {
      stderr += d;
      feed(d);
    });
    const timer = opts.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs) : undefined;
    child.on('error', (err) => {
      if (timer) clearTimeout(timer);
      reject(new Error(`docker ${args[0]}: cannot run '${DOCKER}' (${err.message}). Install Docker (apt-get install docker.io) and start dockerd.`));
    });
    if (opts.input && child.stdin) {
      child.stdin.on('error', () => {}); // docker exiting early shows up as its exit code
      if (Buffer.isBuffer(opts.input)) child.stdin.end(opts.input);
      else opts.input.pipe(child.stdin);
    }
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      const c = code ?? (signal ? 128 : 1);
      if (c !== 0 && !opts.allowFail) {
        const tail = stderr.trim().split('\n').slice(-8).join('\n');
        reject(new Error(`docker ${args.join(' ').slice(0, 200)} failed (${signal ?? `exit ${c}`}): ${tail || stdout.trim().slice(-500)}`));
      } else resolve({ stdout, stderr, code: c });
    });
  });
}

let available: Promise<boolean> | undefined;
/** True when the docker CLI is installed and the daemon answers (cached per process; 5 s timeout). */
export function dockerAvailable(): Promise<boolean> {
  available ??= docker(['version', '--format', '{{.Server.Version}}'], { allowFail: true, timeoutMs: 5000 })
    .then((r) => r.code === 0 && r.stdout.trim().length > 0)
    .catch(() => false);
  return available;
}

/** The message tests skip with when Docker is absent. */
export const DOCKER_SKIP_MESSAGE = 'Docker not available: apt-get install docker.io and start dockerd (then re-run)';

export interface RootfsOptions {
  /** Image tag to create, e.g. `rag-lab/node-base:20`. */
  tag: string;
  /** Executables to copy (absolute paths; a name is looked up on PATH), each with the libraries `ldd` names. */
  binaries: string[];
  /** Single files to copy to the same path (dereferenced). Missing ones throw. */
  files?: string[];
  /** Folders to copy whole to the same path (symlinks inside kept as links). Missing ones throw. */
  dirs?: string[];
  /** Image environment (`ENV`). PATH defaults to /usr/local/bin:/usr/bin:/bin. */
  env?: Record<string, string>;
  /** Extra image labels. */
  labels?: Record<string, string>;
  /** Default command, e.g. ['node']. Default none. */
  cmd?: string[];
  /** Progress lines. Default: none. */
  log?: (line: string) => void;
}

/** The libraries `ldd` names for a binary (absolute paths, the loader included). Static binaries give []. */
export async function lddLibraries(binary: string): Promise<string[]> {
  const { stdout, code, stderr } = await run('ldd', [binary]);
  if (code !== 0) {
    if (/not a dynamic executable/.test(stdout + stderr)) return [];
    throw new Error(`ldd ${binary} failed (exit ${code}): ${stderr.trim() || stdout.trim()}`);
  }
  const libs: string[] = [];
  for (const line of stdout.split('\n')) {
    const arrow = /=>\s*(\/\S+)/.exec(line);
    const bare = /^\s*(\/\S+)\s+\(/.exec(line);
    const p = arrow?.[1] ?? bare?.[1];
    if (p) libs.push(p);
    if (/=>\s*not found/.test(line)) throw new Error(`ldd ${binary}: ${line.trim()}`);
  }
  return libs;
}

/**
 * Builds (or reuses) an image from a root filesystem made of host files: `binaries` with their `ldd` libraries,
 * `files`, `dirs`, plus /etc/passwd and /etc/group with root and `app` (uid 10001), /etc/nsswitch.conf and a
 * world-writable /tmp. Returns the tag. Skips all copying when `tag` already exists with the same content hash.
 */
export async function importRootfsImage(opts: RootfsOptions): Promise<string> {
  const log = opts.log ?? (() => {});
  const binaries = await Promise.all(opts.binaries.map(which));
  const libs = [...new Set((await Promise.all(binaries.map(lddLibraries))).flat())];
  const files = [...new Set([...binaries, ...libs, ...(opts.files ?? [])])];
  const dirs = opts.dirs ?? [];
  for (const f of files) if (!existsSync(f)) throw new Error(`rootfs ${opts.tag}: file ${f} does not exist on this machine`);
  for (const d of dirs) if (!existsSync(d) || !statSync(d).isDirectory()) throw new Error(`rootfs ${opts.tag}: folder ${d} does not exist on this machine`);
  const env = { PATH: '/usr/local/bin:/usr/bin:/bin', ...opts.env };

  const hash = createHash('sha256');
  hash.update(JSON.stringify({ v: 1, env, labels: opts.labels ?? {}, cmd: opts.cmd ?? null, user: APP_USER }));
  for (const f of files) fingerprint(hash, f, true);
  for (const d of dirs) fingerprintTree(hash, d);
  const digest = hash.digest('hex').slice(0, 16);

  const existing = await docker(['image', 'inspect', '--format', `{{index .Config.Labels "${ROOTFS_HASH_LABEL}"}}`, opts.tag], { allowFail: true });
  if (existing.code === 0 && existing.stdout.trim() === digest) {
    log(`rootfs ${opts.tag}: up to date (${digest})`);
    return opts.tag;
  }

  const t0 = Date.now();
  const root = mkdtempSync(join(tmpdir(), 'rag-rootfs-'));
  try {
    for (const f of files) {
      const dest = join(root, f);
      mkdirSync(dirname(dest), { recursive: true });
      copyFileSync(f, dest); // follows symlinks: the real library lands at the path ldd names
      chmodSync(dest, statSync(f).mode & 0o7777);
    }
    for (const d of dirs) cpSync(d, join(root, d), { recursive: true, verbatimSymlinks: true, dereference: false });
    // A dangling link inside a copied folder (e.g. /etc/ssl/certs/*.pem -> /usr/share/ca-certificates/...) is fine:
    // the CA bundle itself (ca-certificates.crt) is a regular file.
    mkdirSync(join(root, 'etc'), { recursive: true });
    writeFileSync(join(root, 'etc/passwd'), `root:x:0:0:root:/root:/sbin/nologin\n${APP_USER.name}:x:${APP_USER.uid}:${APP_USER.gid}:app:/home/app:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n`);
    writeFileSync(join(root, 'etc/group'), `root:x:0:\n${APP_USER.name}:x:${APP_USER.gid}:\nnogroup:x:65534:\n`);
    writeFileSync(join(root, 'etc/nsswitch.conf'), 'passwd: files\ngroup: files\nhosts: files dns\n');
    mkdirSync(join(root, 'tmp'), { recursive: true });
    chmodSync(join(root, 'tmp'), 0o1777);
    mkdirSync(join(root, 'home/app'), { recursive: true });
    mkdirSync(join(root, 'root'), { recursive: true });

    const changes: string[] = [];
    for (const [k, v] of Object.entries(env)) changes.push('--change', `ENV ${k}=${v}`);
    for (const [k, v] of Object.entries({ ...opts.labels, [ROOTFS_HASH_LABEL]: digest })) changes.push('--change', `LABEL ${k}=${v}`);
    if (opts.cmd) changes.push('--change', `CMD ${JSON.stringify(opts.cmd)}`);
    log(`rootfs ${opts.tag}: importing ${files.length} files + ${dirs.length} folders (${digest})`);
    // tar the tree as root-owned (the tar runs as whoever we are); /home/app belongs to app
    const tar = spawn('tar', ['-C', root, '--numeric-owner', '--owner=0', '--group=0', '-cf', '-', '.'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let tarErr = '';
    tar.stderr.setEncoding('utf8').on('data', (d: string) => (tarErr += d));
    const tarDone = new Promise<number>((r) => tar.on('close', (c) => r(c ?? 1)));
    await docker(['import', ...changes, '-', opts.tag], { input: tar.stdout });
    const tc = await tarDone;
    if (tc !== 0) throw new Error(`rootfs ${opts.tag}: tar failed (exit ${tc}): ${tarErr.trim()}`);
    log(`rootfs ${opts.tag}: imported in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    return opts.tag;
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

/** Size of an image in bytes (`docker image inspect .Size`). */
export async function imageSize(tag: string): Promise<number> {
  const r = await docker(['image', 'inspect', '--format', '{{.Size}}', tag]);
  return Number(r.stdout.trim());
}

/** True when an image with this tag exists. */
export async function imageExists(tag: string): Promise<boolean> {
  return (await docker(['image', 'inspect', '--format', '{{.Id}}', tag], { allowFail: true })).code === 0;
}

function fingerprint(hash: ReturnType<typeof createHash>, p: string, follow: boolean): void {
  const st = follow ? statSync(p) : lstatSync(p);
  hash.update(`${p}\0${st.size}\0${st.mtimeMs}\0${st.mode}\0${st.isSymbolicLink() ? readlinkSync(p) : ''}\n`);
}

function fingerprintTree(hash: ReturnType<typeof createHash>, dir: string): void {
  fingerprint(hash, dir, false);
  for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const p = join(dir, e.name);
    if (e.isDirectory()) fingerprintTree(hash, p);
    else fingerprint(hash, p, false);
  }
}

async function which(bin: string): Promise<string> {
  if (bin.startsWith('/')) {
    if (!existsSync(bin)) throw new Error(`rootfs: binary ${bin} does not exist on this machine`);
    return bin;
  }
  for (const d of (process.env.PATH ?? '/usr/bin:/bin').split(':')) {
    const p = join(d, bin);
    if (existsSync(p)) return p;
  }
  throw new Error(`rootfs: '${bin}' not found on PATH`);
}

function run(cmd: string, args: string[]): Promise<DockerResult> {
  return new Promise((resolve, reject) => {
    const c = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    c.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    c.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    c.on('error', (e) => reject(new Error(`cannot run ${cmd}: ${e.message}`)));
    c.on('close', (code) => resolve({ stdout, stderr, code: code ?? 1 }));
  });
}
