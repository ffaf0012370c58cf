/**
 * Checkpoint for 01-event-loop-blocking. `npm run checkpoint -- 01-event-loop-blocking` runs it against exercise.ts;
 * plain `npx vitest run` checks before.ts and after.ts; LAB_IMPL=wrong checks that each wrong/*.ts is rejected.
 * Each server listens on 127.0.0.1, port 0.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { parseBrown } from '../../shared/corpus/brown.ts';
import { chunkDocument } from '../../shared/corpus/chunk.ts';
import { implementations } from '../../shared/lab/checkpoint.ts';
import { defaultAnalyzer } from '../../shared/text/analyzer.ts';
import * as reference from './before.ts';
import { brownFiles, QUERIES } from './data.ts';
import type { CorpusFile, Hit, RunningServer, ServerOptions } from './server-kit.ts';

interface Mod {
  startServer(opts?: ServerOptions): Promise<RunningServer>;
}

const DOCS = 8;
/** Brown files joined into the one long document of the slicing test. */
const LONG_DOC_FILES = 80;

async function get(url: string): Promise<{ status: number; body: { hits?: Hit[]; error?: string; ok?: boolean } }> {
  const res = await fetch(url);
  return { status: res.status, body: (await res.json()) as { hits?: Hit[]; error?: string; ok?: boolean } };
}

const hitLabel = (h: Hit | undefined) => (h === undefined ? 'nothing' : `chunk ${h.id.slice(0, 8)} of ${h.docId} (score ${h.score.toFixed(4)})`);

/** Where `got` departs from `want`, in words; undefined if nowhere. */
function difference(got: Hit[] | undefined, want: Hit[]): string | undefined {
  if (got === undefined) return 'no hits in the answer';
  for (let r = 0; r < Math.max(got.length, want.length); r++) {
    const g = got[r];
    const w = want[r];
    if (g === undefined || w === undefined || g.id !== w.id || Math.abs(g.score - w.score) > 1e-9 * Math.max(1, Math.abs(w.score))) {
      return `rank ${r + 1} is ${hitLabel(g)} where before.ts has ${hitLabel(w)}`;
    }
  }
  return undefined;
}

/**
 * Runs `work` while counting turns of the event loop (a setImmediate that re-queues itself runs once per turn, in
 * the check phase) and, for each turn, the chunks the default analyzer analysed in it (every text but `query`).
 */
async function chunksPerTurn(query: string, work: () => Promise<unknown>): Promise<{ longest: number; total: number; busyTurns: number }> {
  let turn = 0;
  let counting = true;
  const tick = () => {
    turn++;
    if (counting) setImmediate(tick);
  };
  setImmediate(tick);
  const perTurn = new Map<number, number>();
  const analyze = defaultAnalyzer.analyze;
  const spy = vi.spyOn(defaultAnalyzer, 'analyze').mockImplementation((text: string) => {
    if (text !== query) perTurn.set(turn, (perTurn.get(turn) ?? 0) + 1);
    return analyze.call(defaultAnalyzer, text);
  });
  try {
    await work();
  } finally {
    counting = false;
    spy.mockRestore();
  }
  const counts = [...perTurn.values()];
  return { longest: Math.max(0, ...counts), total: counts.reduce((a, b) => a + b, 0), busyTurns: counts.length };
}

let longDoc: { dir: string; file: CorpusFile; chunks: number } | undefined;
beforeAll(() => {
  const dir = mkdtempSync(join(tmpdir(), 'lab-01-'));
  const raw = brownFiles()
    .slice(0, LONG_DOC_FILES)
    .map((f) => readFileSync(f.path, 'utf8'))
    .join('\n');
  const path = join(dir, 'long');
  writeFileSync(path, raw);
  const chunks = chunkDocument({ id: 'brown/long', text: parseBrown(raw) }).length;
  longDoc = { dir, file: { path, id: 'brown/long' }, chunks };
});
afterAll(() => {
  if (longDoc) rmSync(longDoc.dir, { recursive: true, force: true });
});

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
    const wrong: string[] = [];
    for (const q of QUERIES) {
      const { status, body } = await get(`${server.url}/search?q=${encodeURIComponent(q)}&docs=${DOCS}`);
      expect(status, `/search?q=${q}: ${body.error ?? ''}`).toBe(200);
      const d = difference(body.hits, reference.searchFiles(files, { query: q, docs: DOCS, k: 5 }));
      if (d) wrong.push(`"${q}": ${d}`);
      expect(body.hits!.length).toBeGreaterThan(0);
    }
    expect(wrong.length, `${wrong.length} of ${QUERIES.length} queries differ from before.ts: ${wrong.slice(0, 3).join('; ')}`).toBe(0);
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

  // The property the lesson is about, as an order and a count, never a timing. before.ts is the baseline that breaks
  // both on purpose: its handler holds the event loop until the job is done.
  describe.skipIf(name === 'before')('the event loop while a search runs', () => {
    it('answers /healthz while a /search job is still running', async () => {
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
      expect(
        order[0],
        `a /healthz sent once a 40-file search had started was answered after the search: the handler held the ` +
          `event loop for the whole job, so the health check could not even be read`,
      ).toBe('healthz');
    });

    it('lets the event loop turn every few chunks, even within one long document', async () => {
      const doc = longDoc!;
      const long = await impl.startServer({ files: [doc.file] });
      try {
        const query = 'jury';
        let status = 0;
        const { longest, total, busyTurns } = await chunksPerTurn(query, async () => {
          status = (await get(`${long.url}/search?q=${query}&docs=1`)).status;
        });
        expect(status, 'the search over one long document failed').toBe(200);
        const bound = Math.floor(doc.chunks / 2);
        expect(
          longest,
          `${longest} of the document's ${doc.chunks} chunks analysed in one turn of the event loop (bound ${bound}; ` +
            `${total} analysed in ${busyTurns} turn${busyTurns === 1 ? '' : 's'}): a /healthz that arrives meanwhile waits for all of them. Awaiting ` +
            `the file read lets the loop turn once per file, not within one; an await that never reaches the event ` +
            `loop is no turn at all`,
        ).toBeLessThanOrEqual(bound);
      } finally {
        await long.close();
      }
    }, 60_000);
  });
});
