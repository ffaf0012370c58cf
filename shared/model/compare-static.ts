/**
 * One-off measurement (not a test): the static SIF model in onnxruntime vs the engine's SifEmbedder on 2,000 Brown
 * sentences at batch 32: model size and build time, largest per-component difference, and speed.
 *
 *   npx tsx shared/model/compare-static.ts [--sentences 2000] [--batch 32] [--threads 1] [--rounds 3]
 *
 * Timings are the best of --rounds passes after a warm-up; on a busy machine they move by 2x from run to run.
 */
import { parseArgs } from 'node:util';
import { loadBrown } from '../corpus/brown.ts';
import { createDefaultEmbedder, type SifEmbedder } from '../embed/sif.ts';
import { splitSentences } from '../text/sentences.ts';
import type { Embedder } from '../types.ts';
import { corpusVocabulary, createOnnxSifEmbedder, sifTokenIds } from './static-sif.ts';

const { values } = parseArgs({
  options: {
    sentences: { type: 'string', default: '2000' },
    batch: { type: 'string', default: '32' },
    threads: { type: 'string' },
    rounds: { type: 'string', default: '3' },
  },
});
const N = Number(values.sentences);
const BATCH = Number(values.batch);
const ROUNDS = Number(values.rounds);
const threadOpts = values.threads ? [Number(values.threads)] : [1, 2];

const mb = (n: number) => `${(n / 1048576).toFixed(1)} MB`;

async function embedAll(e: Embedder, texts: string[]): Promise<Float32Array[]> {
  const out: Float32Array[] = [];
  for (let i = 0; i < texts.length; i += BATCH) out.push(...(await e.embed(texts.slice(i, i + BATCH))));
  return out;
}

/** Best of ROUNDS full passes (after one warm-up pass), in ms. */
async function time(e: Embedder, texts: string[]): Promise<number> {
  await embedAll(e, texts);
  let best = Infinity;
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = performance.now();
    await embedAll(e, texts);
    best = Math.min(best, performance.now() - t0);
  }
  return best;
}

function maxAbsDiff(a: Float32Array[], b: Float32Array[]): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) for (let j = 0; j < a[i].length; j++) m = Math.max(m, Math.abs(a[i][j] - b[i][j]));
  return m;
}

async function main(): Promise<void> {
  const sif: SifEmbedder = await createDefaultEmbedder();
  const docs = await loadBrown({ limit: 60 });
  const sentences = docs
    .flatMap((d) => splitSentences(d.text.replace(/\s+/g, ' ')))
    .filter((s) => s.trim().length > 0)
    .slice(0, N);
  if (sentences.length < N) throw new Error(`only ${sentences.length} sentences in the first 60 Brown files`);
  await sif.fit(sentences);
  const ref = await embedAll(sif, sentences);

  console.log(`${N} Brown sentences, batch ${BATCH}, best of ${ROUNDS} passes`);
  const tSif = await time(sif, sentences);
  console.log(`SifEmbedder (JS)                        ${tSif.toFixed(0).padStart(6)} ms  ${((N / tSif) * 1000).toFixed(0).padStart(7)} texts/s`);

  // the share of either side that is tokenising and word lookup (the same TypeScript for both)
  const tokOnly: Embedder = {
    name: 'tokenize',
    dim: 0,
    embed: async (batch) => (sifTokenIds(sif, batch), []),
  };
  const tTok = await time(tokOnly, sentences);
  console.log(`  of which tokenise + look up (sifTokenIds) ${tTok.toFixed(0).padStart(4)} ms`);

  for (const [label, vocabulary] of [
    ['full vocabulary', undefined],
    ['corpus vocabulary', corpusVocabulary(sif, sentences)],
  ] as const) {
    for (const threads of threadOpts) {
      const t0 = performance.now();
      const { embedder, model } = await createOnnxSifEmbedder(sif, { vocabulary, intraOpNumThreads: threads });
      const built = performance.now() - t0;
      const diff = maxAbsDiff(ref, await embedAll(embedder, sentences));
      const t = await time(embedder, sentences);
      console.log(
        `ONNX ${label.padEnd(17)} threads=${threads}  ${t.toFixed(0).padStart(6)} ms  ${((N / t) * 1000).toFixed(0).padStart(7)} texts/s` +
          `  | model ${mb(model.bytes.length)} (${model.vocab.rows} rows), build+load ${built.toFixed(0)} ms, max |diff| ${diff.toExponential(2)}`,
      );
      await embedder.release();
    }
  }
}

await main();
