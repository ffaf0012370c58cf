/**
 * The real images of t4 lesson 10, built and run (the lesson's checkpoint judges the Dockerfile text; this proves the
 * image it builds behaves). Needs Docker; skips with a message when it is absent. The first run builds both images
 * (a few minutes cold: the multi-stage `npm ci` needs the registry, the naive image copies the whole checkout);
 * later runs reuse them by content hash (shared/deploy/images.ts) and take seconds. RAG_SKIP_IMAGE_TESTS=1 skips.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { APP_TAGS, buildAppImage } from './images.ts';
import { APP_USER, DOCKER_SKIP_MESSAGE, docker, dockerAvailable } from './rootfs.ts';
import { runContainer, waitHealthy, type RunningContainer } from './container.ts';

const skipWhy = process.env.RAG_SKIP_IMAGE_TESTS === '1' ? 'RAG_SKIP_IMAGE_TESTS=1' : (await dockerAvailable()) ? undefined : DOCKER_SKIP_MESSAGE;
if (skipWhy) console.warn(`shared/deploy/images.test.ts skipped: ${skipWhy}`);

/** Packages that are devDependencies of the project (package.json): none may be in the runtime image. */
const DEV_PACKAGES = ['express', '@langchain/core', '@langchain/classic', '@orama/orama', 'vitest', 'tsx', 'typescript', 'esbuild', 'clinic', 'kubernetes-models'];

const log = (l: string) => process.stderr.write(`${l}\n`);

describe.skipIf(skipWhy !== undefined)('lab images (Docker)', () => {
  const sizes: Record<string, number> = {};
  const started: RunningContainer[] = [];

  beforeAll(async () => {
    // the naive image is reused when it exists: its hash covers the whole checkout, so it would rebuild (minutes) after any edit
    for (const variant of ['multistage', 'naive'] as const) sizes[variant] = (await buildAppImage({ variant, log, reuse: variant === 'naive' })).sizeBytes;
  }, 900_000);

  afterAll(async () => {
    for (const c of started) await c.remove();
  }, 60_000);

  it('the multi-stage image is less than half the naive one', () => {
    expect(sizes.multistage, `multi-stage ${(sizes.multistage! / 1e6).toFixed(0)} MB vs naive ${(sizes.naive! / 1e6).toFixed(0)} MB`).toBeLessThan(sizes.naive! / 2);
  });

  it('runs as the non-root user app (uid 10001); the naive one as root', async () => {
    const uid = async (tag: string) => (await docker(['run', '--rm', '--entrypoint', 'node', tag, '-e', 'console.log(process.getuid())'])).stdout.trim();
    expect(await uid(APP_TAGS.multistage)).toBe(String(APP_USER.uid));
    expect(await uid(APP_TAGS.naive)).toBe('0');
  }, 60_000);

  it('carries no devDependency, no tsx, no TypeScript source', async () => {
    const script = `const fs=require('fs');const bad=${JSON.stringify(DEV_PACKAGES)}.filter(p=>fs.existsSync('/app/node_modules/'+p));` + `const ts=[];(function w(d){for(const e of fs.readdirSync(d,{withFileTypes:true})){const p=d+'/'+e.name;if(e.isDirectory())w(p);else if(p.endsWith('.ts'))ts.push(p)}})('/app/shared');console.log(JSON.stringify({bad,ts:ts.length}))`;
    const out = JSON.parse((await docker(['run', '--rm', '--entrypoint', 'node', APP_TAGS.multistage, '-e', script])).stdout) as { bad: string[]; ts: number };
    expect(out.bad, 'devDependencies found in /app/node_modules').toEqual([]);
    expect(out.ts, '.ts files in /app/shared').toBe(0);
  }, 60_000);

  it('has no shell and no npm in the runtime', async () => {
    const r = await docker(['run', '--rm', '--entrypoint', 'node', APP_TAGS.multistage, '-e', "const fs=require('fs');console.log(['/bin/sh','/usr/lib/node_modules/npm','/usr/bin/npm'].filter(p=>fs.existsSync(p)).join(','))"]);
    expect(r.stdout.trim()).toBe('');
  }, 60_000);

  it('serves /healthz and /readyz with a read-only root filesystem, and its HEALTHCHECK turns healthy', async () => {
    // the embedder builds its index on the /data volume at first start (entrypoint.ts), then loads the GloVe cache
    const c = await runContainer({ image: APP_TAGS.multistage, name: `ragl10-test-${process.pid}`, command: ['embedder'], readOnly: true, volume: `ragl10-test-${process.pid}`, log });
    started.push(c);
    await c.waitReady(180_000);
    const health = await fetch(`${c.url}/healthz`);
    expect(health.status).toBe(200);
    const ready = await fetch(`${c.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await waitHealthy(c.name, 60_000)).toBe('healthy');
    // nothing was written outside /data and /tmp
    const diff = (await docker(['diff', c.name])).stdout.trim().split('\n').filter((l) => l && !/ \/(data|tmp)(\/|$)/.test(l));
    expect(diff, 'files the container changed in its root filesystem').toEqual([]);
  }, 300_000);
});
