/**
 * npm run eval -- [--dataset <BEIR dir>] [--mode bm25|dense|hybrid] [--json]
 *
 * Scores the engine on a judged collection: nDCG@10, Recall@100, MRR@10 and per-query latency.
 */
import { existsSync } from 'node:fs';
import { loadBeir } from '../corpus/beir.ts';
import { loadBrown } from '../corpus/brown.ts';
import { createEngine, RETRIEVAL_MODES, type EngineConfig, type RetrievalMode, type VectorKind } from '../engine.ts';
import type { FusionMethod } from '../retrieve/fusion.ts';
import type { Doc, Qrels, Query } from '../types.ts';
import { fail, numberFlag, parseCli, runMain } from '../util/cli.ts';
import { EMBEDDER_FLAGS, createEmbedder, embedderChoice, type EmbedderChoice } from '../model/serving.ts';
import { evaluate } from './evaluate.ts';
import { knownItemQueries } from './known-item.ts';

const USAGE = `Usage: npm run eval -- [options]

Scores retrieval on a judged test collection and prints nDCG@10, Recall@100, MRR@10 and the per-query latency
(p50/p99 of the retrieval call, answer excluded).

Options:
  --dataset <dir>     a BEIR-layout folder (corpus.jsonl, queries.jsonl, qrels/<split>.tsv), e.g.
                      ../shared/datasets/cranfield. Without it: the embedded Brown corpus with a SYNTHETIC
                      known-item query set derived from it (see shared/eval/known-item.ts).
  --split <name>      qrels split (default test)
  --mode <m>          bm25 | dense | hybrid (default hybrid)
  --vector <kind>     hnsw-i8 | hnsw | flat (default hnsw-i8: HNSW over int8 vectors; hnsw: hnswlib, float32;
                      flat: exact float32)
  --fusion <method>   weighted | rrf (default: the engine's, weighted)
  --weights <a,b>     fusion weights for the BM25 and dense lists (default 1,0.3)
  --rrf-k <n>         RRF constant (default 60)
  --k1 <x> --b <x>    BM25 parameters (defaults 1.2, 0.75)
  --embedder E        sif (default), sif-int8 (the word table in int8) or onnx (with --model <dir>: a folder with
                      model.onnx and tokenizer.json; --model-threads N, default 1)
  --limit <n>         score only the first n judged queries
  --json              print one JSON object: ndcg@10, recall@100, mrr@10, queries, latency_ms.{p50,p99}
  -h, --help          this text
`;

runMain(async () => {
  const { values } = parseCli(USAGE, {
    dataset: { type: 'string' },
    split: { type: 'string', default: 'test' },
    mode: { type: 'string', default: 'hybrid' },
    vector: { type: 'string', default: 'hnsw-i8' },
    fusion: { type: 'string' },
    weights: { type: 'string' },
    'rrf-k': { type: 'string' },
    k1: { type: 'string' },
    b: { type: 'string' },
    limit: { type: 'string' },
    json: { type: 'boolean', default: false },
    ...EMBEDDER_FLAGS,
  });
  let pick: EmbedderChoice;
  try {
    pick = embedderChoice(values);
  } catch (err) {
    fail((err as Error).message);
  }
  const mode = values.mode as RetrievalMode;
  if (!RETRIEVAL_MODES.includes(mode)) fail(`--mode must be one of ${RETRIEVAL_MODES.join(', ')}, got "${values.mode}"`);
  if (values.vector !== 'hnsw-i8' && values.vector !== 'hnsw' && values.vector !== 'flat') fail(`--vector must be hnsw-i8, hnsw or flat, got "${values.vector}"`);
  if (values.fusion && values.fusion !== 'rrf' && values.fusion !== 'weighted') {
    fail(`--fusion must be rrf or weighted, got "${values.fusion}"`);
  }
  const weights = values.weights?.split(',').map((w) => numberFlag('weights', w, 1, (n) => n >= 0));
  if (weights && weights.length !== 2) fail('--weights takes two numbers: BM25 weight, dense weight (e.g. 1,0.5)');
  const log = (msg: string) => process.stderr.write(`${msg}\n`);

  let docs: Doc[];
  let queries: Query[];
  let qrels: Qrels;
  let label: string;
  if (values.dataset) {
    if (!existsSync(values.dataset)) fail(`--dataset ${values.dataset}: no such folder`);
    ({ docs, queries, qrels } = await loadBeir(values.dataset, { split: values.split }));
    label = values.dataset;
  } else {
    docs = await loadBrown();
    ({ queries, qrels } = knownItemQueries(docs));
    label = 'brown (embedded default corpus) with a SYNTHETIC known-item query set: not human judgements';
    log(`note: no --dataset given; evaluating ${label}`);
  }
  const limit = values.limit ? numberFlag('limit', values.limit, 0, (n) => Number.isInteger(n) && n > 0) : undefined;
  if (limit) queries = queries.filter((q) => qrels.has(q.id)).slice(0, limit);

  const fusion: EngineConfig['fusion'] = {};
  if (values.fusion) fusion.method = values.fusion as FusionMethod;
  if (weights) fusion.weights = weights;
  if (values['rrf-k']) fusion.rrfK = numberFlag('rrf-k', values['rrf-k'], 60, (n) => n > 0);
  const engine = await createEngine({
    log,
    llm: null,
    embedder: await createEmbedder(pick, { log }),
    vector: { kind: values.vector as VectorKind },
    fusion,
    bm25: {
      k1: values.k1 === undefined ? undefined : numberFlag('k1', values.k1, 1.2, (n) => n >= 0),
      b: values.b === undefined ? undefined : numberFlag('b', values.b, 0.75, (n) => n >= 0 && n <= 1),
    },
  });
  const ingest = await engine.ingest(docs, (done, total) => {
    if (done === total || done % 8192 === 0) log(`ingest: embedded ${done}/${total} chunks`);
  });
  log(`ingested ${ingest.documents} documents as ${ingest.chunks} chunks in ${(ingest.ms / 1000).toFixed(1)} s`);
  const result = await evaluate(engine, queries, qrels, {
    mode,
    onProgress: (done, total) => {
      if (done % 50 === 0 || done === total) log(`queries: ${done}/${total}`);
    },
  });
  if (values.json) {
    process.stdout.write(JSON.stringify({ dataset: label, ...result }) + '\n');
    return;
  }
  const f = (x: number) => x.toFixed(4);
  process.stdout.write(
    [
      `dataset     ${label}`,
      `mode        ${mode}   (vector index: ${values.vector})`,
      `queries     ${result.queries}`,
      `nDCG@10     ${f(result['ndcg@10'])}`,
      `Recall@100  ${f(result['recall@100'])}`,
      `MRR@10      ${f(result['mrr@10'])}`,
      `latency     p50 ${result.latency_ms.p50.toFixed(3)} ms   p99 ${result.latency_ms.p99.toFixed(3)} ms (retrieval, no answer)`,
      '',
    ].join('\n'),
  );
});
