/**
 * What the engine's image is made of (t4 lesson 10): the inputs every Dockerfile of the lesson is written from.
 * before.ts, after.ts, exercise.ts and wrong/*.ts each export `dockerfile(spec)`, the Dockerfile text.
 */
export interface ImageSpec {
  /** The runtime base: node and its libraries, nothing else (shared/deploy/images.ts ensureBaseImage). */
  base: string;
  /** The build base: node, npm, /bin/sh and the CA bundle (ensureBuildBaseImage). */
  buildBase: string;
  /** npm, as a path inside the build base (no `npm` shim: the base has no /usr/bin/env). */
  npm: string;
  /** What `npm ci` reads: the manifest and the lockfile (and the project's .npmrc, which holds no token). */
  lockfiles: string[];
  /** The source the build stage compiles. */
  source: string[];
  /** Native addons, compiled once by the host's npm ci (the build base has no compiler). */
  nativeAddons: string[];
  /** The only files the GloVe cache step reads (so a change elsewhere keeps that layer). */
  vectorsInputs: string[];
  /** The service port (env PORT). */
  port: number;
  /** The non-root user's numeric uid:gid. */
  user: string;
}

export const SPEC: ImageSpec = {
  base: 'rag-lab/node-base:20',
  buildBase: 'rag-lab/node-build:20',
  npm: '/usr/lib/node_modules/npm/bin/npm-cli.js',
  lockfiles: ['package.json', 'package-lock.json', '.npmrc'],
  source: ['tsconfig.json', 'shared/'],
  nativeAddons: ['node_modules/hnswlib-node/build/Release/addon.node', 'node_modules/@raygun-nickj/mmap-io/build/Release/mmap_io.node'],
  vectorsInputs: ['shared/embed/glove-cache.ts', 'shared/index/mmap.ts', 'shared/util/write-atomic.ts', 'shared/util/paths.ts', 'shared/deploy/warm-vectors.ts'],
  port: 8080,
  user: '10001:10001',
};

/** The HEALTHCHECK command: the runtime has no curl and no shell, so node asks /healthz itself. */
export const HEALTHCHECK_JS = "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))";

/** `COPY a b c dest/` with each file going to its own folder: one COPY per destination folder. */
export function copyEach(files: string[]): string[] {
  const byDir = new Map<string, string[]>();
  for (const f of files) {
    const dir = f.includes('/') ? `${f.slice(0, f.lastIndexOf('/'))}/` : './';
    byDir.set(dir, [...(byDir.get(dir) ?? []), f]);
  }
  return [...byDir].map(([dir, fs]) => `COPY ${fs.join(' ')} ${dir}`);
}
