/**
 * The lesson's workload: an engine over the first Brown documents, and a stream of unique queries drawn from the same
 * documents' words (seeded: the same queries on every machine). Unique queries are what a public search box gets
 * most of the time (the long tail), and what makes a per-query structure grow.
 */
import { loadBrown } from '../../shared/corpus/brown.ts';
import { createEngine, type Engine } from '../../shared/engine.ts';
import { defaultAnalyzer } from '../../shared/text/analyzer.ts';
import { tokenize } from '../../shared/text/tokenize.ts';
import { mulberry32 } from '../../shared/util/random.ts';
import type { Doc } from '../../shared/types.ts';

/** The engine every server of the lesson serves: createEngine() with its default embedder, `docs` Brown documents. */
export async function lessonEngine(docs: number, log: (msg: string) => void = () => {}): Promise<{ engine: Engine; corpus: Doc[] }> {
  const corpus = await loadBrown({ limit: docs });
  log(`engine: createEngine() and ingest ${corpus.length} Brown documents`);
  const engine = await createEngine({ log });
  await engine.ingest(corpus);
  return { engine, corpus };
}

/**
 * `n` distinct queries of 2 to 5 content words taken at random from `docs` (words the analyzer keeps, so every query
 * retrieves something). Deterministic for a given seed.
 */
export function uniqueQueries(docs: readonly Doc[], n: number, seed = 11): string[] {
  const words = [...new Set(docs.flatMap((d) => tokenize(d.text)).filter((w) => w.length > 3 && defaultAnalyzer.analyze(w).length > 0))].sort();
  if (words.length < 50) throw new RangeError(`uniqueQueries: only ${words.length} usable words in ${docs.length} documents`);
  const rand = mulberry32(seed);
  const seen = new Set<string>();
  const out: string[] = [];
  while (out.length < n) {
    const len = 2 + Math.floor(rand() * 4);
    const q: string[] = [];
    for (let i = 0; i < len; i++) q.push(words[Math.floor(rand() * words.length)]);
    const text = q.join(' ');
    if (seen.has(text)) continue;
    seen.add(text);
    out.push(text);
  }
  return out;
}

/**
 * Sends GET /search for `queries[from .. from+n)` with `concurrency` requests in flight, each answered before the next
 * is sent on that lane; throws on the first non-200 answer.
 */
export async function drive(url: string, queries: readonly string[], from: number, n: number, concurrency = 4): Promise<void> {
  let next = from;
  const end = from + n;
  const lane = async () => {
    while (next < end) {
      const q = queries[next++ % queries.length];
      const res = await fetch(`${url}/search?q=${encodeURIComponent(q)}&k=5`);
      if (res.status !== 200) throw new Error(`GET /search?q=${q} answered ${res.status}: ${await res.text()}`);
      await res.arrayBuffer();
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
}
