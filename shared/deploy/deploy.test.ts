/**
 * The image tooling without Docker: what goes into the build context, what the runtime's node_modules holds, how
 * the entrypoint builds a service's argv, and what `ldd` gives the base image. (images.test.ts builds the images.)
 */
import { describe, expect, it } from 'vitest';
import path from 'node:path';
import { REPO_ROOT } from '../util/paths.ts';
import { keepInImage, reachablePackages, RUNTIME_ENTRIES } from './compile.ts';
import { serviceArgs } from './entrypoint.ts';
import { multistageContextFiles } from './images.ts';
import { lddLibraries } from './rootfs.ts';

describe('multi-stage build context (.dockerignore allow-list)', () => {
  const files = multistageContextFiles();
  it('holds the lockfile, the source and the two prebuilt addons', () => {
    for (const f of ['package.json', 'package-lock.json', 'tsconfig.json', 'shared/engine.ts', 'shared/deploy/entrypoint.ts', 'node_modules/hnswlib-node/build/Release/addon.node']) expect(files).toContain(f);
  });
  it('leaves out tests, fixtures, the rest of node_modules, .cache and the lessons', () => {
    const bad = files.filter((f) => /\.test\.ts$|__fixtures__|^\.cache\/|^reports\/|^t\d_/.test(f) || (f.startsWith('node_modules/') && !f.endsWith('.node')));
    expect(bad).toEqual([]);
  });
});

describe('runtime node_modules (compile.ts)', () => {
  it('the services import no devDependency', async () => {
    const pkgs = await reachablePackages(RUNTIME_ENTRIES.map((e) => path.join(REPO_ROOT, e)));
    expect(pkgs.has('fastify')).toBe(true);
    const dev = Object.keys((await import('../../package.json', { with: { type: 'json' } })).default.devDependencies);
    expect([...pkgs].filter((p) => dev.includes(p))).toEqual([]);
  }, 30_000);
  it('drops what the runtime never reads from a package', () => {
    expect(keepInImage('')).toBe(true);
    expect(keepInImage('lib/index.js')).toBe(true);
    expect(keepInImage('build/Release/addon.node')).toBe(true);
    for (const f of ['node_modules/x', 'README.md', 'dist/index.js.map', 'index.d.ts', 'build/Release/obj.target/addon.o', '.bin/tsc']) expect(keepInImage(f), f).toBe(false);
  });
});

describe('entrypoint argv', () => {
  it('gives a shard its defaults from the environment, the caller first', () => {
    const a = serviceArgs('shard', ['--shard', '1'], { RAG_SHARDS: '3', PORT: '9000' });
    expect(a.slice(0, 2)).toEqual(['--shard', '1']);
    expect(a.join(' ')).toContain('--shards 3');
    expect(a.join(' ')).toContain('--port 9000');
    expect(a.join(' ')).toContain('--index /data/index');
  });
  it('binds the gateway to every interface unless told', () => {
    expect(serviceArgs('gateway', [], {}).join(' ')).toBe('--port 8080 --host 0.0.0.0');
    expect(serviceArgs('gateway', ['--port', '1'], {}).join(' ')).toBe('--port 1 --host 0.0.0.0');
  });
  it('rejects an unknown command by name', () => {
    expect(() => serviceArgs('shrad', [])).toThrow(/unknown command 'shrad'/);
  });
});

describe.runIf(process.platform === 'linux')('base image inputs', () => {
  it('ldd names libc and the loader for node', async () => {
    const libs = await lddLibraries(process.execPath);
    expect(libs.some((l) => /libc\.so/.test(l))).toBe(true);
    expect(libs.some((l) => /ld-linux/.test(l))).toBe(true);
  });
});
