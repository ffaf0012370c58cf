/**
 * npm run bench:engine -- [--chunks 100000] [--queries 1000] [--json]
 *
 * The engine at scale, in one process on one core: ingest throughput (chunks/s), query latency per mode
 * (p50/p99, answer excluded and included) and HNSW recall@10 against exact search on the same vectors.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { loadBrown } from '../corpus/brown.ts';
import { growEngine } from '../corpus/grow.ts';
import { createEngine, type RetrievalMode } from '../engine.ts';
import { indexText } from '../corpus/chunk.ts';
import { knownItemQueries } from '../eval/known-item.ts';
import { FlatIndex } from '../index/flat.ts';
import { collectEnv, formatEnvLines, makeRunId } from '../lab/env.ts';
import { percentileNearestRank } from '../util/stats.ts';
import { numberFlag, parseCli, runMain } from '../util/cli.ts';
import { REPO_ROOT } from '../util/paths.ts';

const USAGE = `Usage: npm run bench:engine -- [options]

Builds the engine over the Brown corpus grown with the deterministic generator to --chunks chunks, then measures
ingest throughput, query latency per mode (k = 10) and HNSW recall@10 against exact search. Writes
reports/bench/engine-scale-<run>.json.

Options:
  --chunks <n>    corpus size in chunks (default 100000)
  --queries <n>   timed queries per mode (default 1000; known-item phrases from the Brown corpus)
  --seed <n>      generator seed (default 42)
  --json          print the results as JSON on stdout (progress stays on stderr)
  -h, --help      this text
`;

runMain(async () => {
  const { values } = parseCli(USAGE, {
    chunks: { type: 'string' },
    queries: { type: 'string' },
    seed: { type: 'string' },
    json: { type: 'boolean', default: false },
  });
  const target = numberFlag('chunks', values.chunks, 100_000, (n) => Number.isInteger(n) && n > 0);
  const nQueries = numberFlag('queries', values.queries, 1000, (n) => Number.isInteger(n) && n > 0);
  const seed = numberFlag('seed', values.seed, 42, Number.isInteger);
  const log = (msg: string) => process.stderr.write(`${msg}\n`);
  const env = collectEnv(REPO_ROOT, 'full');

  const engine = await createEngine({ llm: null, log });
  const brown = await loadBrown();
  const first = await engine.ingest(brown);
  const grown = await growEngine(engine, brown, target, { seed, log });
  const chunks = engine.stats().chunks;
  const ingestMs = first.ms + grown.ingestMs;
  log(`ingested ${chunks} chunks in ${(ingestMs / 1000).toFixed(1)} s`);

  const { queries } = knownItemQueries(brown, { count: nQueries, seed: 11 });
  const texts = queries.map((q) => q.text);
  const latency: Record<string, { p50: number; p99: number; mean: number }> = {};
  const timeQueries = async (mode: RetrievalMode, answer: boolean) => {
    for (const q of texts.slice(0, 50)) await engine.query(q, { k: 10, mode, answer }); // warm-up
    const ms: number[] = [];
    for (const q of texts) {
      const t = performance.now();
      await engine.query(q, { k: 10, mode, answer });
      ms.push(performance.now() - t);
    }
    ms.sort((a, b) => a - b);
    const name = `${mode}${answer ? '+answer' : ''}`;
    latency[name] = { p50: percentileNearestRank(ms, 50), p99: percentileNearestRank(ms, 99), mean: ms.reduce((a, b) => a + b, 0) / ms.length };
    log(`${name}: p50 ${latency[name].p50.toFixed(3)} ms, p99 ${latency[name].p99.toFixed(3)} ms`);
  };
  for (const mode of ['bm25', 'dense', 'hybrid'] as const) await timeQueries(mode, false);
  await timeQueries('hybrid', true);

  // Recall of the engine's HNSW index against exact search over the very same vectors.
  log('building the exact (flat) index over the same vectors for recall@10');
  const exact = new FlatIndex({ dim: engine.embedder.dim, initialCapacity: chunks });
  const labels: number[] = [];
  for (let label = 0; labels.length < chunks; label++) if (engine.chunk(label)) labels.push(label);
  for (let i = 0; i < labels.length; i += 4096) {
    const batch = labels.slice(i, i + 4096);
    exact.add(batch, await engine.embedder.embed(batch.map((l) => indexText(engine.chunk(l)!))));
  }
  const queryVectors = await engine.embedder.embed(texts);
  let found = 0;
  let total = 0;
  for (const v of queryVectors) {
    const truth = exact.search(v, 10);
    if (truth.length === 0) continue;
    const got = new Set(engine.vectors.search(v, 10).map((h) => h.label));
    for (const t of truth) if (got.has(t.label)) found++;
    total += truth.length;
  }
  const recall = found / total;

  const result = {
    env,
    chunks,
    documents: engine.stats().documents,
    ingest: { seconds: ingestMs / 1000, chunksPerSecond: chunks / (ingestMs / 1000) },
    queries: texts.length,
    latency_ms: latency,
    hnsw: { recallAt10: recall, vectorIndex: engine.stats().vectorIndex },
    memory: { rssMB: process.memoryUsage().rss / 2 ** 20, heapUsedMB: process.memoryUsage().heapUsed / 2 ** 20 },
  };
  const dir = join(REPO_ROOT, 'reports', 'bench');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `engine-scale-${makeRunId(new Date(env.date), env.commit, env.dirty)}.json`);
  writeFileSync(file, JSON.stringify(result, null, 2));
  if (values.json) {
    process.stdout.write(JSON.stringify(result) + '\n');
    return;
  }
  const f = (x: number) => x.toFixed(3);
  const lines = [
    ...formatEnvLines(env),
    '',
    `corpus        ${chunks} chunks (${result.documents} documents: Brown + generated, seed ${seed})`,
    `ingest        ${result.ingest.seconds.toFixed(1)} s, ${result.ingest.chunksPerSecond.toFixed(0)} chunks/s (chunk + embed + BM25 + HNSW)`,
    '',
    '| query (k = 10, one core) | p50 ms | p99 ms | mean ms |',
    '| --- | ---: | ---: | ---: |',
    ...Object.entries(latency).map(([name, l]) => `| ${name} | ${f(l.p50)} | ${f(l.p99)} | ${f(l.mean)} |`),
    '',
    `HNSW recall@10 vs exact search on the same vectors: ${recall.toFixed(4)} (${texts.length} queries)`,
    `memory        RSS ${result.memory.rssMB.toFixed(0)} MB`,
    `results       ${file}`,
    '',
  ];
  process.stdout.write(lines.join('\n'));
});
