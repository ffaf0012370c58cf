/**
 * One-off measurement: what each stage of the split costs, run one after another in one session each on this thread
 * (no worker, no message), so the split's balance can be seen apart from thread scheduling.
 *
 *   npx tsx t3_model_inference_optimization/07-model-parallelism/stage-costs.ts           # the bench's quick shape
 *   npx tsx t3_model_inference_optimization/07-model-parallelism/stage-costs.ts --full    # MiniLM-L6's shape
 *
 * Prints min and median ms of `reps` interleaved runs of one micro-batch (8 texts × seq tokens) through: the whole
 * model; stage 1 (embeddings + layers 0-2) and stage 2 (layers 3-5 + pooling); and layer 0 with the embeddings
 * against layer 1 alone (their difference is what the embeddings cost). Seeded weights: outputs carry no meaning.
 */
import { buildEncoderFromWeights, encoderWeights } from '../../shared/model/encoder.ts';
import { buildEncoderStage, nextStageFeeds, splitEncoder } from '../../shared/model/encoder-stages.ts';
import { openSession, seededTexts, tokenFeeds } from '../../shared/model/session.ts';

const full = process.argv.includes('--full');
const weights = encoderWeights(full ? {} : { layers: 6, hidden: 128, heads: 4, ffn: 512, vocab: 8_000, maxPositions: 128 });
const seq = full ? 64 : 32;
const reps = 21;
const [s1, s2] = splitEncoder(weights, [3]);
const models: Record<string, Uint8Array> = {
  'whole model': buildEncoderFromWeights(weights),
  'stage 1 (embeddings + layers 0-2)': s1.model,
  'stage 2 (layers 3-5 + pooling)': s2.model,
  'layer 0 + embeddings': buildEncoderStage(weights, { from: 0, to: 1 }).model,
  'layer 1 alone': buildEncoderStage(weights, { from: 1, to: 2 }).model,
};
const sessions = Object.fromEntries(await Promise.all(Object.entries(models).map(async ([k, m]) => [k, await openSession(m)] as const)));
const tokens = tokenFeeds(seededTexts(8, weights.config.vocab, seq, seq, 3));
const hidden = nextStageFeeds(await sessions['stage 1 (embeddings + layers 0-2)'].run(tokens));
const hidden1 = nextStageFeeds(await sessions['layer 0 + embeddings'].run(tokens));
const feedsOf: Record<string, typeof tokens> = {
  'stage 2 (layers 3-5 + pooling)': hidden,
  'layer 1 alone': hidden1,
};
const times = new Map<string, number[]>(Object.keys(models).map((k) => [k, []]));
for (let r = 0; r < reps + 1; r++) {
  for (const [name, s] of Object.entries(sessions)) {
    const t0 = performance.now();
    await s.run(feedsOf[name] ?? tokens);
    if (r > 0) times.get(name)!.push(performance.now() - t0); // the first round warms up
  }
}
console.log(`${full ? 'MiniLM-L6 shape' : 'quick shape (6 layers, hidden 128, FFN 512)'}, 8 texts × ${seq} tokens, 1 intra-op thread, ${reps} interleaved runs`);
for (const [name, t] of times) {
  t.sort((a, b) => a - b);
  console.log(`${name.padEnd(36)} min ${t[0].toFixed(2).padStart(8)} ms   median ${t[t.length >> 1].toFixed(2).padStart(8)} ms`);
}
for (const s of Object.values(sessions)) await s.release();
