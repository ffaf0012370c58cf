/**
 * Bounded cost per request, service side (issue 10), against a real server on 127.0.0.1 port 0: queries sent while a
 * large ingest is being applied are answered before it is acknowledged, a filter matching nothing costs no engine
 * work, and every cache stays under its byte cap however many unique long queries arrive. Order and counts only,
 * no timing. (The figures under load: `npm run bench:cost`, shared/serve/README.md "Bounded cost".)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadBrown } from '../corpus/brown.ts';
import { createDefaultEmbedder } from '../embed/sif.ts';
import { createEngine, type Engine } from '../engine.ts';
import { mulberry32 } from '../util/random.ts';
import { createServer, type RagServer } from './app.ts';
import { CachingEmbedder, ResultsCache, stringBytes } from './cache.ts';
import { createAnalyzer } from '../text/analyzer.ts';
import type { Doc, Embedder } from '../types.ts';

let docs: Doc[];
let server: RagServer;
let url: string;
let engine: Engine;
let embedder: CachingEmbedder;
const RESULTS_CAP = 300_000;
const EMBEDDING_CAP = 60_000;

async function post(path: string, body: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(url + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : undefined };
}

/** `n` words drawn from the corpus, about `chars` characters: a unique long query per seed. */
function longQuery(seed: number, chars: number): string {
  const rand = mulberry32(seed);
  const words = docs[seed % docs.length].text.split(/\s+/);
  let q = `q${seed}`;
  while (q.length < chars - 20) q += ` ${words[Math.floor(rand() * words.length)]}`;
  return q.slice(0, chars);
}

beforeAll(async () => {
  docs = await loadBrown({ limit: 30 });
  embedder = new CachingEmbedder(await createDefaultEmbedder(), { maxBytes: EMBEDDING_CAP });
  engine = await createEngine({ embedder, llm: null, ingestSliceMs: 1 });
  await engine.ingest(docs);
  server = await createServer({ engine, auth: false, maxEventLoopDelayMs: 0, cache: { maxBytes: RESULTS_CAP } });
  url = await server.listen(0, '127.0.0.1');
}, 300_000);

afterAll(async () => {
  await server?.close();
});

describe('bounded cost per request (HTTP)', () => {
  it('answers queries sent during a large ingest before the ingest is acknowledged', async () => {
    const text = docs.map((d) => d.text).join('\n\n').slice(0, 300_000);
    const order: string[] = [];
    const ingest = post('/v1/documents', { documents: [{ id: 'big', text }] }).then((r) => {
      order.push('ingest');
      return r;
    });
    // wait until the engine is working on it, then query on other connections
    while (engine.stats().ingestsInFlight === 0 && order.length === 0) await new Promise((r) => setTimeout(r, 1));
    const queries = Array.from({ length: 5 }, (_, i) =>
      post('/v1/query', { query: `grand jury election ${i}`, k: 5 }).then((r) => {
        order.push(`query ${r.status}`);
        return r;
      }),
    );
    const [ack, ...answers] = await Promise.all([ingest, ...queries]);
    expect(ack.status).toBe(200);
    for (const a of answers) expect(a.status).toBe(200);
    expect(order.indexOf('ingest')).toBe(order.length - 1);
    expect(order.slice(0, -1)).toEqual(Array(5).fill('query 200'));
  }, 300_000);

  it('answers a filter that matches nothing without engine work', async () => {
    await post('/v1/query', { query: 'warm up the postings', filter: { genre: 'news' } });
    const examined = engine.filterLabelsExamined;
    for (let i = 0; i < 20; i++) {
      const r = await post('/v1/query', { query: `jury election ${i}`, filter: { genre: `no-such-genre-${i}` } });
      expect(r.status).toBe(200);
      expect(r.json.hits).toEqual([]);
    }
    expect(engine.filterLabelsExamined).toBe(examined);
  });

  it('keeps every cache under its byte cap after many unique 4,000-character queries', async () => {
    const cache = server.cache!;
    let maxSeen = 0;
    for (let i = 0; i < 120; i++) {
      const r = await post('/v1/query', { query: longQuery(1000 + i, 4000), k: 10 });
      expect(r.status).toBe(200);
      expect(cache.bytes).toBeLessThanOrEqual(RESULTS_CAP);
      expect(embedder.bytes).toBeLessThanOrEqual(EMBEDDING_CAP);
      maxSeen = Math.max(maxSeen, cache.bytes);
    }
    // the caps were reached (so they are what bounds the caches) and entries were kept, not refused
    expect(maxSeen).toBeGreaterThan(RESULTS_CAP / 2);
    expect(cache.size).toBeGreaterThan(5);
    expect(embedder.size).toBeGreaterThan(3);
    const memo = engine.analyzer.memoUsage!();
    expect(memo.chars).toBeLessThanOrEqual(2_000_000);
  }, 300_000);
});

describe('cache byte caps (units)', () => {
  it('ResultsCache counts keys and bodies as V8 stores them and never holds more than maxBytes', () => {
    const cache = new ResultsCache({ maxBytes: 50_000 });
    const body = JSON.stringify({ hits: ['x'.repeat(9000)] });
    for (let i = 0; i < 500; i++) {
      cache.set(cache.key(`${i} ${'long query '.repeat(360)}`, 10, 'hybrid', undefined), body);
      expect(cache.bytes).toBeLessThanOrEqual(50_000);
    }
    expect(cache.size).toBeGreaterThan(0);
    // an entry larger than the whole cap is not stored at all
    cache.set(cache.key('huge', 10, 'hybrid', undefined), 'y'.repeat(60_000));
    expect(cache.get(cache.key('huge', 10, 'hybrid', undefined))).toBeUndefined();
    expect(stringBytes('abc')).toBe(3);
    expect(stringBytes('a’b')).toBe(6);
  });

  it('CachingEmbedder never holds more than maxBytes of query vectors', async () => {
    const fake: Embedder = { name: 'fake', dim: 100, embed: async (texts) => texts.map(() => new Float32Array(100)) };
    const cached = new CachingEmbedder(fake, { maxBytes: 40_000 });
    for (let i = 0; i < 300; i++) {
      await cached.embed([`${i} ${'x'.repeat(4000)}`]);
      expect(cached.bytes).toBeLessThanOrEqual(40_000);
    }
    expect(cached.size).toBeGreaterThan(0);
  });

  it("the analyzer's stem memo stays under its character cap and skips junk tokens", () => {
    const analyzer = createAnalyzer({ memoChars: 5_000 });
    const rand = mulberry32(3);
    const word = () => Array.from({ length: 3 + Math.floor(rand() * 10) }, () => String.fromCharCode(97 + Math.floor(rand() * 26))).join('');
    for (let i = 0; i < 2000; i++) {
      analyzer.analyze(`${word()} ${word()} ${'z'.repeat(4000 + i)}`);
      expect(analyzer.memoUsage!().chars).toBeLessThanOrEqual(5_000);
    }
    expect(analyzer.memoUsage!().entries).toBeGreaterThan(0);
  });
});
