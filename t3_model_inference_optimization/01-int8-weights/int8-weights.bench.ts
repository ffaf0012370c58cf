/**
 * Benchmark for 01-int8-weights: the seeded encoder (MiniLM-L6's shape in full mode, a small one in quick mode) with
 * float32 weights (before) and its MatMul weights in int8 (after: one scale per output column, MatMulInteger with
 * the activations quantized per call), beside the same int8 codes in the QDQ form and int8 with one scale per tensor.
 * Run: npm run t3 -- --only 01-int8-weights [--quick] [--impl exercise]
 *
 * Headline: the model's size in bytes (the serialised ONNX model: counted, the same on every machine). Beside it,
 * from extras: the latency of one run at batch 1, 8 and 32 (seq 64, one intra-op thread; median of the runs), and the
 * output cosine to the fp32 model (mean and least over seeded token-id lists). Seeded weights: outputs carry no
 * meaning; fidelity is cosine to the fp32 model. The timed call is one run at batch 8.
 *
 * The static model (where ../shared/datasets/cranfield exists; about 2 s with the GloVe cache built): the engine's SIF embedder
 * as an ONNX graph, fitted on the Cranfield documents, with its table in float32 (before) and in int8 with one scale
 * per row (after), and Cranfield nDCG@10 of dense retrieval with each (whole documents, exact cosine).
 */
import type * as ort from 'onnxruntime-node';
import { loadBeir, judgedQueries } from '../../shared/corpus/beir.ts';
import { createDefaultEmbedder } from '../../shared/embed/sif.ts';
import { ndcgAt } from '../../shared/eval/metrics.ts';
import { defineLesson, EXERCISE, type Metric } from '../../shared/lab/lesson.ts';
import { measured } from '../../shared/lab/metric.ts';
import type { EncoderOptions } from '../../shared/model/encoder.ts';
import { lessonEncoder } from '../../shared/model/lesson-model.ts';
import { cosineMetrics, latencyAtBatches } from '../../shared/model/lesson-metrics.ts';
import { initializersOf, quantizeGatherTable, quantizeMatMulWeights, quantizeSymmetric } from '../../shared/model/quantize.ts';
import { buildStaticSifModel, corpusVocabulary, sifTokenIds } from '../../shared/model/static-sif.ts';
import { datasetsDir, findDataset } from '../../shared/util/paths.ts';
import * as after from './after.ts';
import * as before from './before.ts';
import { embedAll, openSession, rowCosines, seededTexts, tokenFeeds } from '../../shared/model/session.ts';

type Mod = typeof after;
type Rewrite = (model: Uint8Array, names: readonly string[], wordTable: string) => Uint8Array;

const HEADLINE = 'model size';

interface Size {
  /** Encoder shape ({} = MiniLM-L6's). */
  encoder: EncoderOptions;
  label: string;
  seq: number;
  /** Timed runs per batch size for the latency figures (after one warm-up). */
  latencyRuns: number;
  /** Seeded token-id lists the fidelity is measured on. */
  fidelityTexts: number;
  /** Measure the static SIF model on Cranfield (GloVe loading, fitting, 1,625 texts embedded twice: about 2 s). */
  cranfield: boolean;
}

interface Input {
  size: Size;
  vocab: number;
  /** What the encoder's figures mean (seeded: no meaning, fidelity only). */
  note: string;
  fp32Bytes: number;
  models: Record<string, Uint8Array>;
  sessions: Record<string, ort.InferenceSession>;
  feeds: (batch: number) => Record<string, ort.Tensor>;
}

const VARIANTS: Record<string, { rewrite: Rewrite; what: string }> = {
  before: { rewrite: before.quantizeModel, what: 'float32 weights' },
  after: { rewrite: after.quantizeModel, what: 'int8 per output column, MatMulInteger + DynamicQuantizeLinear' },
  'int8 QDQ (DequantizeLinear → MatMul)': {
    rewrite: (m, names) => quantizeMatMulWeights(m, names, { format: 'qdq' }),
    what: 'the same int8 codes and scales behind DequantizeLinear (axis 1); onnxruntime fuses it into MatMulNBits (8 bits)',
  },
  'after + word table int8 (per row)': {
    rewrite: (m, names, table) => quantizeGatherTable(after.quantizeModel(m, names), table),
    what: 'after.ts, and the word embedding table in int8 with one scale per row (the static-table rewrite)',
  },
  'int8 one scale per tensor': {
    rewrite: (m, names) => quantizeMatMulWeights(m, names, { format: 'integer', quantizer: (w, r, c) => quantizeSymmetric(w, r, c, 'tensor') }),
    what: 'MatMulInteger, one scale per weight tensor',
  },
};

const BATCHES = [1, 8, 32];

async function staticModelMetrics(log: (m: string) => void): Promise<Metric[]> {
  const dir = findDataset('cranfield');
  if (!dir) {
    log(`static SIF model on Cranfield: skipped, no cranfield collection under ${datasetsDir()} (set LAB_DATASETS)`);
    return [];
  }
  const data = await loadBeir(dir);
  const docTexts = data.docs.map((d) => (d.title ? `${d.title}\n${d.text}` : d.text));
  const queries = judgedQueries(data.queries, data.qrels);
  const sif = await createDefaultEmbedder();
  await sif.fit(docTexts);
  const vocabulary = corpusVocabulary(sif, [...docTexts, ...queries.map((q) => q.text)]);
  const fp32 = buildStaticSifModel(sif, { vocabulary });
  const int8 = quantizeGatherTable(fp32.bytes, 'sif_table');
  const ids = (texts: string[]) => sifTokenIds(sif, texts, fp32.vocab).map((a) => Array.from(a));
  const docIds = ids(docTexts);
  const queryIds = ids(queries.map((q) => q.text));
  const tableBytes = (m: Uint8Array) => [...initializersOf(m).values()].filter((t) => t.name.startsWith('sif_table')).reduce((s, t) => s + t.bytes, 0);
  const metrics: Metric[] = [];
  for (const [variant, bytes, what] of [
    ['before', fp32.bytes, 'float32 table'],
    ['after', int8, 'int8 table, one scale per row'],
  ] as const) {
    const s = await openSession(bytes);
    const docs = await embedAll(s, docIds);
    const qs = await embedAll(s, queryIds);
    await s.release();
    const ndcg = queries.map((q, i) => {
      const scores = docs.map((d, j) => {
        let dot = 0;
        for (let k = 0; k < d.length; k++) dot += d[k] * qs[i][k];
        return [dot, j] as const;
      });
      scores.sort((a, b) => b[0] - a[0] || a[1] - b[1]);
      return ndcgAt(10, scores.slice(0, 10).map(([, j]) => data.docs[j].id), data.qrels.get(q.id)!);
    });
    const note = `static SIF (GloVe-100d, ${fp32.vocab.rows} rows), ${what}; ${data.docs.length} documents, ${queries.length} judged queries, exact cosine`;
    const mean = ndcg.reduce((a, b) => a + b, 0) / ndcg.length;
    metrics.push(
      measured('static model: Cranfield nDCG@10', '', ndcg, { variant, note: `${mean.toFixed(4)}; ${note}` }),
      { name: 'static model: table size', value: tableBytes(bytes), unit: 'bytes', variant, note },
      { name: 'static model: model size', value: bytes.length, unit: 'bytes', variant, note },
    );
  }
  return metrics;
}

export default defineLesson<Size, Input>({
  id: 't3/01-int8-weights',
  title: 'INT8 weights: fp32 MatMul weights vs int8 per output channel (MatMulInteger), on the seeded encoder and the static table',
  workload:
    'the seeded encoder (random weights: outputs carry no meaning) run by onnxruntime-node on one thread; the timed call is one run at batch 8, ' +
    'seq 64. Headline: the serialised model in bytes; latency at batch 1/8/32 and output cosine to fp32 beside it; ' +
    'then the static SIF model with an int8 table and its Cranfield nDCG@10',
  sizes: {
    quick: {
      encoder: { layers: 2, hidden: 128, heads: 4, ffn: 512, vocab: 8_000, maxPositions: 128 },
      label: 'small encoder (2 layers, hidden 128, FFN 512, vocabulary 8,000)',
      seq: 64,
      latencyRuns: 5,
      fidelityTexts: 100,
      cranfield: true,
    },
    full: { encoder: {}, label: 'MiniLM-L6 shape (6 layers, hidden 384, FFN 1536, vocabulary 30,522)', seq: 64, latencyRuns: 7, fidelityTexts: 300, cranfield: true },
  },
  setup: async (size, ctx) => {
    ctx.log(ctx.model ? `loading ${ctx.model}` : `building the ${size.label} with seeded weights`);
    const enc = await lessonEncoder(size.encoder, size.label, ctx.model);
    const fp32 = enc.bytes;
    const names = enc.matmulWeights;
    const ex = ctx.exercise as Mod | undefined;
    const rewrites: Record<string, Rewrite> = Object.fromEntries(Object.entries(VARIANTS).map(([k, v]) => [k, v.rewrite]));
    if (ex) rewrites[EXERCISE] = ex.quantizeModel;
    const models: Record<string, Uint8Array> = {};
    const sessions: Record<string, ort.InferenceSession> = {};
    for (const [name, rewrite] of Object.entries(rewrites)) {
      ctx.log(`rewriting and loading: ${name}`);
      models[name] = rewrite(fp32, names, enc.wordTable);
      sessions[name] = await openSession(models[name]);
    }
    const vocab = enc.vocab;
    const cache = new Map<number, Record<string, ort.Tensor>>();
    const feeds = (batch: number) => {
      let f = cache.get(batch);
      if (!f) {
        f = tokenFeeds(seededTexts(batch, vocab, size.seq, size.seq, 1000 + batch), enc.typeIds);
        cache.set(batch, f);
      }
      return f;
    };
    return { size: { ...size, label: enc.label }, note: enc.note, vocab, fp32Bytes: fp32.length, models, sessions, feeds };
  },
  teardown: async (input) => {
    for (const s of Object.values(input.sessions)) await s.release();
  },
  baseline: 'before',
  headline: { name: HEADLINE, unit: 'bytes', better: 'lower', metric: HEADLINE },
  variants: Object.fromEntries(Object.keys(VARIANTS).map((name) => [name, (input: Input) => input.sessions[name].run(input.feeds(8))])),
  exercise: (input) => input.sessions[EXERCISE].run(input.feeds(8)),
  extras: async (input, ctx) => {
    const { size } = input;
    const metrics: Metric[] = [];
    const names = Object.keys(input.sessions);
    const texts = seededTexts(size.fidelityTexts, input.vocab, 8, size.seq);
    ctx.log(`fidelity: ${texts.length} seeded inputs through every model`);
    const ref = await embedAll(input.sessions.before, texts);
    for (const name of names) {
      const variant = { variant: name };
      const what = name === EXERCISE ? 'exercise.ts' : VARIANTS[name].what;
      metrics.push(measured(HEADLINE, 'bytes', [input.models[name].length], { ...variant, note: `${what}; ${size.label}, the serialised ONNX model` }));
      const cos = name === 'before' ? ref.map(() => 1) : rowCosines(ref, await embedAll(input.sessions[name], texts));
      metrics.push(...cosineMetrics('output cosine to fp32', cos, name, `${texts.length} seeded inputs of 8-${size.seq} tokens`, input.note));
    }
    // latency: the variants in rotation within each batch size, so load on the machine falls on all of them alike
    metrics.push(...(await latencyAtBatches(input.sessions, input.feeds, BATCHES, size.latencyRuns, `one run, seq ${size.seq}, intraOpNumThreads 1`)));
    if (size.cranfield) metrics.push(...(await staticModelMetrics(ctx.log)));
    return { metrics };
  },
});
