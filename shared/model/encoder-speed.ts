/**
 * One-off measurement (not a test, not a lesson bench): the seeded MiniLM-shaped encoder in onnxruntime. Prints the
 * model's size, how long building and loading it take, the latency of one `run` at batch 1, 8 and 32, and how far
 * the six seeded layers move the embedding away from the pooled embedding layer (a reminder of what random weights
 * can and cannot stand in for). Outputs carry no meaning: the weights are seeded noise.
 *
 *   npx tsx shared/model/encoder-speed.ts [--seq 64] [--threads 1] [--runs 5] [--budget-ms 4000]
 *                                         [--weight-std 0.02] [--bias-std 0] [--norm-std 0]
 *
 * Each batch size gets one warm-up run, then up to --runs timed runs or --budget-ms, whichever ends first (at least
 * two). Latencies are wall time of `session.run` with its inputs prepared; on a busy machine they move by 2× between
 * runs, so read ratios within one run, not absolute figures across runs.
 */
import * as ort from 'onnxruntime-node';
import { loadavg, cpus } from 'node:os';
import { numberFlag, parseCli, runMain } from '../util/cli.ts';
import { buildEncoderFromWeights, encoderParameterCount, encoderWeights, MINILM_L6, weightOf, type EncoderWeights } from './encoder.ts';
import { packTokenBatch } from './onnx-embedder.ts';

const USAGE = `
Usage: npx tsx shared/model/encoder-speed.ts [--seq N] [--threads N] [--runs N] [--budget-ms MS]
                                             [--weight-std S] [--bias-std S] [--norm-std S]
The seeded MiniLM-L6-shaped encoder (outputs without meaning): size, build/load time, latency at batch 1/8/32.
`;

const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB (${(n / 1048576).toFixed(1)} MiB)`;

/** Cosine between each output row and the L2-normalised mean of LN(word + position) over the same tokens. */
function cosineToEmbeddingLayer(w: EncoderWeights, ids: number[][], out: Float32Array): number[] {
  const { hidden: H, vocab, maxPositions, layerNormEpsilon: eps } = w.config;
  const word = weightOf(w, 'embeddings.word.weight', [vocab, H]);
  const pos = weightOf(w, 'embeddings.position.weight', [maxPositions, H]);
  const gamma = weightOf(w, 'embeddings.norm.weight', [H]);
  const beta = weightOf(w, 'embeddings.norm.bias', [H]);
  return ids.map((list, r) => {
    const m = new Float64Array(H);
    const x = new Float64Array(H);
    list.forEach((id, t) => {
      let mean = 0;
      for (let j = 0; j < H; j++) mean += x[j] = word[id * H + j] + pos[t * H + j];
      mean /= H;
      let v = 0;
      for (let j = 0; j < H; j++) v += (x[j] - mean) ** 2;
      const inv = 1 / Math.sqrt(v / H + eps);
      for (let j = 0; j < H; j++) m[j] += (x[j] - mean) * inv * gamma[j] + beta[j];
    });
    let dot = 0;
    let nm = 0;
    for (let j = 0; j < H; j++) {
      dot += m[j] * out[r * H + j];
      nm += m[j] * m[j];
    }
    return dot / Math.sqrt(nm); // the output row has norm 1
  });
}

async function main(): Promise<void> {
  const { values } = parseCli(USAGE, {
    seq: { type: 'string' },
    threads: { type: 'string' },
    runs: { type: 'string' },
    'budget-ms': { type: 'string' },
    'weight-std': { type: 'string' },
    'bias-std': { type: 'string' },
    'norm-std': { type: 'string' },
  });
  const positive = (n: number) => Number.isInteger(n) && n >= 1;
  const seq = numberFlag('seq', values.seq, 64, (n) => positive(n) && n <= MINILM_L6.maxPositions);
  const threads = numberFlag('threads', values.threads, 1, positive);
  const runs = numberFlag('runs', values.runs, 5, (n) => positive(n) && n >= 2);
  const budget = numberFlag('budget-ms', values['budget-ms'], 4000, (n) => n > 0);
  const nonNeg = (n: number) => n >= 0;
  const init = {
    weightStd: numberFlag('weight-std', values['weight-std'], MINILM_L6.weightStd, nonNeg),
    biasStd: numberFlag('bias-std', values['bias-std'], MINILM_L6.biasStd, nonNeg),
    normStd: numberFlag('norm-std', values['norm-std'], MINILM_L6.normStd, nonNeg),
  };

  console.log(`seeded MiniLM-L6-shaped encoder (random weights: outputs carry no meaning), init ${JSON.stringify(init)}`);
  console.log(`node ${process.version}, onnxruntime-node ${ort.env.versions.common}, ${cpus().length} cores, load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);

  let t0 = performance.now();
  const weights = encoderWeights(init);
  const tWeights = performance.now() - t0;
  t0 = performance.now();
  const bytes = buildEncoderFromWeights(weights);
  const tSerialise = performance.now() - t0;
  t0 = performance.now();
  const session = await ort.InferenceSession.create(bytes, {
    executionProviders: ['cpu'],
    graphOptimizationLevel: 'all',
    intraOpNumThreads: threads,
    executionMode: 'sequential',
  });
  const tLoad = performance.now() - t0;
  const params = encoderParameterCount(init);
  console.log(`parameters ${params.toLocaleString('en')} (${(params / 1e6).toFixed(2)}M), model ${mb(bytes.length)}`);
  console.log(`build: seeded weights ${tWeights.toFixed(0)} ms + serialise ${tSerialise.toFixed(0)} ms; load (InferenceSession.create) ${tLoad.toFixed(0)} ms`);

  let s = 12_345;
  const nextId = () => 1 + ((s = (s * 48_271) % 2_147_483_647) % (MINILM_L6.vocab - 1));
  try {
    console.log(`\none run, seq ${seq}, intraOpNumThreads ${threads}: median (min) of the timed runs after one warm-up`);
    console.log('batch | runs | median ms | min ms | ms/text | texts/s');
    for (const batch of [1, 8, 32]) {
      const lists = Array.from({ length: batch }, () => Array.from({ length: seq }, nextId));
      const b = packTokenBatch(lists);
      const feeds = {
        input_ids: new ort.Tensor('int64', b.ids, [batch, seq]),
        attention_mask: new ort.Tensor('int64', b.mask, [batch, seq]),
      };
      const first = await session.run(feeds); // warm-up
      const times: number[] = [];
      const start = performance.now();
      while (times.length < runs && (times.length < 2 || performance.now() - start < budget)) {
        const t = performance.now();
        await session.run(feeds);
        times.push(performance.now() - t);
      }
      times.sort((x, y) => x - y);
      const med = times[times.length >> 1];
      console.log(
        `${String(batch).padStart(5)} | ${String(times.length).padStart(4)} | ${med.toFixed(1).padStart(9)} | ${times[0].toFixed(1).padStart(6)} | ` +
          `${(med / batch).toFixed(1).padStart(7)} | ${((batch / med) * 1000).toFixed(0).padStart(7)}`,
      );
      if (batch === 8) {
        const cos = cosineToEmbeddingLayer(weights, lists, first.sentence_embedding.data as Float32Array);
        console.log(
          `        (cosine of each output to the pooled embedding layer alone: min ${Math.min(...cos).toFixed(4)}, max ${Math.max(...cos).toFixed(4)}: ` +
            `how far the ${weights.config.layers} seeded layers move the embedding)`,
        );
      }
    }
  } finally {
    await session.release();
  }
}

runMain(main);
