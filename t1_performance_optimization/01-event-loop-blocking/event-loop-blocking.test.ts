/**
 * Checkpoint for 01-event-loop-blocking. `npm run checkpoint -- 01-event-loop-blocking` runs it against exercise.ts;
 * plain `npx vitest run` checks before.ts and after.ts. Each server listens on 127.0.0.1, port 0.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { implementations } from '../../shared/lab/checkpoint.ts';
import * as reference from './before.ts';
import { brownFiles, QUERIES } from './data.ts';
import type { Hit, RunningServer, ServerOptions } from './server-kit.ts';

interface Mod {
  startServer(opts?: ServerOptions): Promise<RunningServer>;
}

const DOCS = 8;

async function get(url: string): Promise<{ status: number; body: { hits?: Hit[]; error?: string; ok?: boolean } }> {
  const res = await fetch(url);
  return { status: res.status, body: (await res.json()) as { hits?: Hit[]; error?: string; ok?: boolean } };
}

describe.each(await implementations<Mod>(import.meta.url))('%s', (name, impl) => {
  let server: RunningServer;
  let jobStarted: (() => void) | undefined;
  beforeAll(async () => {
    server = await impl.startServer({ onJobStart: () => jobStarted?.() });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('answers /healthz', async () => {
    expect(await get(`${server.url}/healthz`)).toEqual({ status: 200, body: { ok: true } });
  });

  it('returns the same hits as the reference job, for every query', async () => {
    const files = brownFiles().slice(0, DOCS);
    for (const q of QUERIES) {
      const { status, body } = await get(`${server.url}/search?q=${encodeURIComponent(q)}&docs=${DOCS}`);
      expect(status).toBe(200);
      expect(body.hits, q).toEqual(reference.searchFiles(files, { query: q, docs: DOCS, k: 5 }));
      expect(body.hits!.length).toBeGreaterThan(0);
    }
  });

  it('rejects a missing query and a bad docs count with 400 and a message naming the parameter', async () => {
    const noQuery = await get(`${server.url}/search?docs=3`);
    expect(noQuery.status).toBe(400);
    expect(noQuery.body.error).toMatch(/^q:/);
    for (const docs of ['0', 'abc', '501', '2.5']) {
      const bad = await get(`${server.url}/search?q=jury&docs=${docs}`);
      expect(bad.status, docs).toBe(400);
      expect(bad.body.error).toMatch(/^docs:/);
    }
  });

  it('answers 500 naming the file when a corpus file cannot be read', async () => {
    const files = [...brownFiles().slice(0, 2), { path: '/nonexistent/brown/zz99', id: 'brown/zz99' }];
    const broken = await impl.startServer({ files });
    try {
      const { status, body } = await get(`${broken.url}/search?q=jury&docs=3`);
      expect(status).toBe(500);
      expect(body.error).toContain('brown/zz99');
      expect(body.error).toContain('ENOENT');
      // and the server is still up
      expect((await get(`${broken.url}/healthz`)).status).toBe(200);
    } finally {
      await broken.close();
    }
  });

  // The property the lesson is about (an order, not a timing). before.ts is the baseline that breaks it on purpose:
  // its handler holds the event loop until the job is done, so the health check cannot even be read before that.
  it.skipIf(name === 'before')('answers /healthz while a /search job is still running', async () => {
    const order: string[] = [];
    let health: Promise<void> | undefined;
    jobStarted = () => {
      jobStarted = undefined;
      health = get(`${server.url}/healthz`).then(() => {
        order.push('healthz');
      });
    };
    const search = get(`${server.url}/search?q=jury&docs=40`).then(() => {
      order.push('search');
    });
    await search;
    await health;
    expect(order).toEqual(['healthz', 'search']);
  });
});
