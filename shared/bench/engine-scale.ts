/**
 * npm run bench:engine -- [--chunks 100000 | --index <dir>] [--queries 1000] [--json]
 *
 * The engine at scale, in one process on one core: ingest throughput (chunks/s), query latency per mode
 * (p50/p99, answer excluded and included) and the vector index's recall@10 against exact float32 search over the
 * chunks' embeddings. With --index, a saved index is loaded instead of built (no ingest figures).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { loadBrown } from '../corpus/brown.ts';
import { growEngine } from '../corpus/grow.ts';
import { createEngine, loadEngine, type Engine, type RetrievalMode } from '../engine.ts';
import { indexText } from '../corpus/chunk.ts';
import { knownItemQueries } from '../eval/known-item.ts';
import { FlatIndex } from '../index/flat.ts';
import { recallAtEf } from '../index/calibrate.ts';
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
  --index <dir>   measure a saved index (npm run index) instead of building one
  --recall-ef <list>  also recall@10 at these search beams, e.g. 64,160,256
  --queries <n>   timed queries per mode (default 1000; known-item phrases from the Brown corpus)
  --seed <n>      generator seed (default 42)
  --json          print the results as JSON on stdout (progress stays on stderr)
  -h, --help      this text
`;

runMain(async () => {
  const { values } = parseCli(USAGE, {
    chunks: { type: 'string' },
    index: { type: 'string' },
    'recall-ef': { type: 'string' },
    queries: { type: 'string' },
    seed: { type: 'string' },
    json: { type: 'boolean', default: false },
  });
  const target = numberFlag('chunks', values.chunks, 100_000, (n) => Number.isInteger(n) && n > 0);
  const nQueries = numberFlag('queries', values.queries, 1000, (n) => Number.isInteger(n) && n > 0);
  const seed = numberFlag('seed', values.seed, 42, Number.isInteger);
  const log = (msg: string) => process.stderr.write(`${msg}\n`);
  const env = collectEnv(REPO_ROOT, 'full');

  const brown = await loadBrown();
  let engine: Engine;
  let ingestMs = NaN;
  if (values.index) {
    log(`loading ${values.index}`);
    engine = await loadEngine(values.index, { llm: null, log });
  } else {
    engine = await createEngine({ llm: null, log });
    const first = await engine.ingest(brown);
    const grown = await growEngine(engine, brown, target, { seed, log });
    ingestMs = first.ms + grown.ingestMs;
    log(`ingested ${engine.stats().chunks} chunks in ${(ingestMs / 1000).toFixed(1)} s`);
  }
  const chunks = engine.stats().chunks;

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

  // Recall of the engine's vector index against exact float32 search over the chunks' embeddings (the vectors the
  // index was given: an int8 index stores them quantised, hnswlib as they are).
  log('building the exact (flat, float32) index over the chunks\' embeddings for recall@10');
  const exact = new FlatIndex({ dim: engine.embedder.dim, initialCapacity: chunks });
  let batch: number[] = [];
  let texts2: string[] = [];
  const flush = async () => {
    exact.add(batch, await engine.embedder.embed(texts2));
    batch = [];
    texts2 = [];
  };
  for (let label = 0, seen = 0; seen < chunks; label++) {
    const c = engine.chunk(label);
    if (!c) continue;
    seen++;
    batch.push(label);
    texts2.push(indexText(c));
    if (batch.length === 4096) await flush();
    if (seen % 100_000 === 0) log(`  ${seen} of ${chunks}`);
  }
  if (batch.length > 0) await flush();
  const queryVectors = await engine.embedder.embed(texts);
  const truths = queryVectors.map((v) => exact.search(v, 10).map((h) => h.label));
  const recallAt = (ef: number | undefined) => recallAtEf(engine.vectors, queryVectors, truths, 10, ef);
  const recall = recallAt(undefined);
  const sweep = (values['recall-ef'] ?? '').split(',').filter(Boolean).map(Number);
  const recallByEf = Object.fromEntries(sweep.map((ef) => [ef, recallAt(ef)]));

  const result = {
    env,
    chunks,
    documents: engine.stats().documents,
    index: values.index ?? null,
    ingest: values.index ? null : { seconds: ingestMs / 1000, chunksPerSecond: chunks / (ingestMs / 1000) },
    queries: texts.length,
    latency_ms: latency,
    hnsw: { recallAt10: recall, vectorIndex: engine.stats().vectorIndex, efSearch: (engine.vectors as { ef?: number }).ef, recallAt10ByEf: recallByEf },
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
    values.index
      ? `corpus        ${chunks} chunks (${result.documents} documents), loaded from ${values.index}`
      : `corpus        ${chunks} chunks (${result.documents} documents: Brown + generated, seed ${seed})`,
    result.ingest
      ? `ingest        ${result.ingest.seconds.toFixed(1)} s, ${result.ingest.chunksPerSecond.toFixed(0)} chunks/s (chunk + embed + BM25 + HNSW)`
      : 'ingest        (loaded, not built)',
    '',
    '| query (k = 10, one core) | p50 ms | p99 ms | mean ms |',
    '| --- | ---: | ---: | ---: |',
    ...Object.entries(latency).map(([name, l]) => `| ${name} | ${f(l.p50)} | ${f(l.p99)} | ${f(l.mean)} |`),
    '',
    `${result.hnsw.vectorIndex} recall@10 vs exact float32 search: ${recall.toFixed(4)} (efSearch ${result.hnsw.efSearch}, ${texts.length} queries)`,
    ...sweep.map((ef) => `  at efSearch ${ef}: ${recallByEf[ef].toFixed(4)}`),
    `memory        RSS ${result.memory.rssMB.toFixed(0)} MB`,
    `results       ${file}`,
    '',
  ];
  process.stdout.write(lines.join('\n'));
});
