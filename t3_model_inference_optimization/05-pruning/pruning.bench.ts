/**
 * Benchmark for 05-pruning: the seeded encoder (MiniLM-L6's shape in full mode, a small one in quick mode) unpruned
 * (before) and with half of every layer's FFN neurons and heads removed by importance (after), beside a quarter
 * removed, the same cut made blind (first-k, random) and the same neurons zeroed in place instead of removed.
 * Run: npm run t3 -- --only 05-pruning [--quick] [--impl exercise]
 *
 * Headline: the model's size in bytes (the serialised ONNX model: counted, the same on every machine). Beside it,
 * from extras: the latency of one run at batch 8 and 32 (seq 64, one intra-op thread; median of the runs), and the
 * output cosine to the unpruned model (mean and least over seeded token-id lists) twice: on the plain seeded weights
 * (every neuron looks alike: the importance signal is weak) and on weights with a planted spread of importance
 * (`importanceSpreadWeights`, as a trained model's neurons differ). Seeded weights: outputs carry no meaning; fidelity
 * is cosine to the unpruned model. The timed call is one run at batch 8.
 *
 * The static model (where ../shared/datasets/cranfield exists; a few seconds with the GloVe cache built): the engine's
 * SIF embedder as an ONNX graph with the whole vocabulary (full mode only: a 137 MB table) and with the words
 * Cranfield's documents and queries use (vocabulary pruning), then its dimensions pruned to 64 of 100 three ways
 * (highest energy, first 64 by index, principal axes after dropping the strongest 10); model size, time to embed the
 * collection, Cranfield nDCG@10 and Recall@100, and a curve of nDCG@10 against the dimensions kept.
 */
import type * as ort from 'onnxruntime-node';
import { judgedQueries, loadBeir } from '../../shared/corpus/beir.ts';
import { createDefaultEmbedder } from '../../shared/embed/sif.ts';
import { ndcgAt, recallAt } from '../../shared/eval/metrics.ts';
import { defineLesson, EXERCISE, type Metric } from '../../shared/lab/lesson.ts';
import { measured } from '../../shared/lab/metric.ts';
import { buildEncoderFromWeights, encoderWeights, type EncoderOptions, type EncoderWeights, type WeightTensor } from '../../shared/model/encoder.ts';
import { latencyAtBatches } from '../../shared/model/lesson-metrics.ts';
import {
  buildStaticTableModel,
  columnEnergy,
  ffnNeuronImportance,
  foldedStaticTable,
  headImportance,
  keepColumns,
  keptCount,
  layerShapesOf,
  principalAxes,
  pruneEncoderWeights,
  rotateTable,
  topIndices,
  type StaticTable,
} from '../../shared/model/prune.ts';
import { embedAll, openSession, rowCosines, seededTexts, tokenFeeds } from '../../shared/model/session.ts';
import { buildStaticSifModel, corpusVocabulary, sifTokenIds } from '../../shared/model/static-sif.ts';
import { mulberry32 } from '../../shared/util/random.ts';
import { datasetsDir, findDataset } from '../../shared/util/paths.ts';
import * as after from './after.ts';
import * as before from './before.ts';
import { importanceSpreadWeights } from './data.ts';

type Mod = typeof after;
type Prune = (w: EncoderWeights) => EncoderWeights;

const HEADLINE = 'model size';
const FIDELITY_NOTE = 'seeded weights: outputs carry no meaning; fidelity is cosine to the unpruned model';
const HALF = { ffn: 0.5, heads: 0.5 };
const QUARTER = { ffn: 0.25, heads: 0.25 };
/** The planted spread of neuron and head importance (data.ts): about 20× between ±2 standard deviations. */
const SPREAD = 0.75;

interface Size {
  /** Encoder shape ({} = MiniLM-L6's). */
  encoder: EncoderOptions;
  label: string;
  seq: number;
  /** Timed runs per batch size for the latency figures (after one warm-up). */
  latencyRuns: number;
  /** Seeded token-id lists the fidelity is measured on. */
  fidelityTexts: number;
  /** Build the static model with the whole 341k-word table as well (137 MB; several seconds). */
  fullVocabulary: boolean;
  /** Points of the nDCG@10-against-dimensions curve. */
  curveDims: number[];
}

interface Input {
  size: Size;
  vocab: number;
  models: Record<string, Uint8Array>;
  sessions: Record<string, ort.InferenceSession>;
  /** The same prunings of the planted-spread weights (fidelity only). */
  planted: Record<string, Uint8Array>;
  feeds: (batch: number) => Record<string, ort.Tensor>;
}

const firstK = (k: number) => Array.from({ length: k }, (_, i) => i);

/** The layer's indices in a seeded random order, the first k kept (ascending). */
function randomPick(n: number, k: number, seed: number): number[] {
  const rand = mulberry32(seed);
  const idx = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [idx[i], idx[j]] = [idx[j], idx[i]];
  }
  return idx.slice(0, k).sort((a, b) => a - b);
}

/** The neurons and heads after.ts would remove, zeroed where they are (every shape unchanged). */
function zeroInPlace(w: EncoderWeights): EncoderWeights {
  const tensors = new Map<string, WeightTensor>(w.tensors);
  const d = w.config.hidden / w.config.heads;
  const zero = (name: string, dropped: (r: number, c: number) => boolean) => {
    const t = tensors.get(name)!;
    const [rows, cols] = t.dims.length === 2 ? t.dims : [1, t.dims[0]];
    const data = Float32Array.from(t.data);
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) if (dropped(r, c)) data[r * cols + c] = 0;
    tensors.set(name, { dims: t.dims, data });
  };
  layerShapesOf(w).forEach((s, i) => {
    const n = new Set(topIndices(ffnNeuronImportance(w, i), keptCount(s.ffn, HALF.ffn)));
    zero(`layer.${i}.ffn.up.weight`, (_r, c) => !n.has(c));
    zero(`layer.${i}.ffn.up.bias`, (_r, c) => !n.has(c));
    zero(`layer.${i}.ffn.down.weight`, (r) => !n.has(r));
    const h = new Set(topIndices(headImportance(w, i), keptCount(s.heads, HALF.heads)));
    for (const m of ['q', 'k', 'v']) {
      zero(`layer.${i}.attn.${m}.weight`, (_r, c) => !h.has(Math.floor(c / d)));
      zero(`layer.${i}.attn.${m}.bias`, (_r, c) => !h.has(Math.floor(c / d)));
    }
    zero(`layer.${i}.attn.out.weight`, (r) => !h.has(Math.floor(r / d)));
  });
  return { config: w.config, tensors };
}

const VARIANTS: Record<string, { prune: Prune; what: string }> = {
  before: { prune: (w) => before.pruneEncoder(w, HALF), what: 'unpruned: every neuron and head' },
  after: { prune: (w) => after.pruneEncoder(w, HALF), what: '50% of FFN neurons and 50% of heads removed per layer, by importance (‖in‖ · ‖out‖)' },
  'after, 25% removed': { prune: (w) => after.pruneEncoder(w, QUARTER), what: '25% of FFN neurons and 25% of heads removed per layer, by importance' },
  'first-k, 50% removed': {
    prune: (w) => pruneEncoderWeights(w, { ffn: layerShapesOf(w).map((s) => firstK(keptCount(s.ffn, 0.5))), heads: layerShapesOf(w).map((s) => firstK(keptCount(s.heads, 0.5))) }),
    what: 'the first half of each layer\'s neurons and heads kept (no importance): same size and speed as after',
  },
  'random, 50% removed': {
    prune: (w) => pruneEncoderWeights(w, { ffn: layerShapesOf(w).map((s, i) => randomPick(s.ffn, keptCount(s.ffn, 0.5), 100 + i)), heads: layerShapesOf(w).map((s, i) => randomPick(s.heads, keptCount(s.heads, 0.5), 200 + i)) }),
    what: 'a seeded random half of each layer\'s neurons and heads kept (no importance)',
  },
  'zeroed in place, 50%': { prune: zeroInPlace, what: "after.ts's neurons and heads set to zero instead of removed: same outputs as after, every shape and byte kept" },
};

const BATCHES = [8, 32];
/** Dimensions the static model's pruned rows keep, and the strongest principal axes dropped before keeping the next ones. */
const STATIC_DIMS = 64;
const DROP_TOP = 10;

/** Dimension choices for the static table (folded, so a dropped column is a dropped output coordinate). */
const DIM_CHOICES: Record<string, { table: 'folded' | 'principal axes'; pick: (t: StaticTable, k: number) => number[]; what: string }> = {
  'by energy': { table: 'folded', pick: (t, k) => topIndices(columnEnergy(t.table, t.rows, t.dim), k), what: 'the k columns with the most energy (Σ of squares over the table)' },
  'by index': { table: 'folded', pick: (_t, k) => Array.from({ length: k }, (_, i) => i), what: 'the first k columns' },
  'principal axes, strongest first': { table: 'principal axes', pick: (_t, k) => Array.from({ length: k }, (_, i) => i), what: 'the table rotated to its principal axes, the k strongest kept' },
  [`principal axes, ${DROP_TOP} strongest dropped`]: {
    table: 'principal axes',
    pick: (t, k) => Array.from({ length: Math.min(k, t.dim - DROP_TOP) }, (_, i) => i + DROP_TOP),
    what: `the table rotated to its principal axes, the ${DROP_TOP} strongest dropped and the next k kept ("all-but-the-top")`,
  },
};

async function staticModelMetrics(size: Size, log: (m: string) => void): Promise<Metric[]> {
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
  const queryTexts = queries.map((q) => q.text);
  const corpus = buildStaticSifModel(sif, { vocabulary: corpusVocabulary(sif, [...docTexts, ...queryTexts]) });
  const corpusIds = (texts: string[]) => sifTokenIds(sif, texts, corpus.vocab).map((a) => Array.from(a));
  const folded = foldedStaticTable(corpus.bytes);
  const tables = { folded, 'principal axes': rotateTable(folded, principalAxes(folded.table, folded.rows, folded.dim).vectors) };

  /** nDCG@10 and Recall@100 per judged query, exact cosine over whole documents (rows are unit length). */
  const quality = (docs: ArrayLike<number>[], qs: ArrayLike<number>[]) => {
    const ndcg: number[] = [];
    const recall: number[] = [];
    queries.forEach((q, i) => {
      const scores = docs.map((d, j) => {
        let dot = 0;
        for (let k = 0; k < d.length; k++) dot += d[k] * qs[i][k];
        return [dot, j] as const;
      });
      scores.sort((a, b) => b[0] - a[0] || a[1] - b[1]);
      const ranked = scores.slice(0, 100).map(([, j]) => data.docs[j].id);
      ndcg.push(ndcgAt(10, ranked.slice(0, 10), data.qrels.get(q.id)!));
      recall.push(recallAt(100, ranked, data.qrels.get(q.id)!));
    });
    return { ndcg, recall };
  };
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

  const rows: Array<{ variant: string; bytes: Uint8Array; ids: (texts: string[]) => number[][]; what: string; tableRows: number; dim: number }> = [];
  if (size.fullVocabulary) {
    log('static model: building the whole-vocabulary table (341k words × 100, 137 MB)');
    const full = buildStaticSifModel(sif);
    rows.push({ variant: 'before', bytes: full.bytes, ids: (t) => sifTokenIds(sif, t).map((a) => Array.from(a)), what: 'whole vocabulary, 100 dims', tableRows: full.vocab.rows, dim: 100 });
  } else {
    log('static model: the whole-vocabulary table (137 MB) is built in full mode only');
  }
  rows.push({ variant: 'after', bytes: corpus.bytes, ids: corpusIds, what: "vocabulary pruned to Cranfield's words, 100 dims", tableRows: corpus.vocab.rows, dim: 100 });
  for (const [name, choice] of Object.entries(DIM_CHOICES)) {
    const t = tables[choice.table];
    const keep = choice.pick(t, STATIC_DIMS);
    const bytes = buildStaticTableModel({ table: keepColumns(t.table, t.rows, t.dim, keep), rows: t.rows, dim: keep.length });
    rows.push({ variant: `${STATIC_DIMS} dims ${name}`, bytes, ids: corpusIds, what: `Cranfield's words, ${choice.what.replace(/\bk\b/g, String(STATIC_DIMS))}`, tableRows: t.rows, dim: keep.length });
  }

  const metrics: Metric[] = [];
  const docCount = data.docs.length;
  for (const r of rows) {
    const t0 = performance.now();
    const s = await openSession(r.bytes);
    const loadMs = performance.now() - t0;
    const docIds = r.ids(docTexts);
    const qIds = r.ids(queryTexts);
    await embedAll(s, docIds.slice(0, 32)); // warm-up
    let docs: Float32Array[] = [];
    let qs: Float32Array[] = [];
    const embedMs: number[] = [];
    for (let pass = 0; pass < 3; pass++) {
      const t1 = performance.now();
      docs = await embedAll(s, docIds);
      qs = await embedAll(s, qIds);
      embedMs.push(performance.now() - t1);
    }
    await s.release();
    const { ndcg, recall } = quality(docs, qs);
    const note = `static SIF (GloVe-100d, SIF fitted on Cranfield), ${r.what}: table ${r.tableRows.toLocaleString('en-US')} × ${r.dim}; ${docCount} documents, ${queries.length} judged queries, exact cosine`;
    metrics.push(
      { name: 'static model: model size', value: r.bytes.length, unit: 'bytes', variant: r.variant, note },
      measured('static model: Cranfield nDCG@10', '', ndcg, { variant: r.variant, note: `${mean(ndcg).toFixed(4)}; ${note}` }),
      measured('static model: Cranfield Recall@100', '', recall, { variant: r.variant, note: `${mean(recall).toFixed(4)}` }),
      measured('static model: embed the collection', 'ms', embedMs, { variant: r.variant, stat: 'min', note: `${docCount + queries.length} token-id lists in batches of 32, one thread; least of 3 passes` }),
      measured('static model: session load', 'ms', [loadMs], { variant: r.variant, note: 'InferenceSession.create on the model bytes' }),
    );
  }

  // the curve: nDCG@10 against the dimensions kept, each choice, computed in float64 over the folded table (the same
  // vectors the graphs compute: masked mean of the kept columns, L2 norm)
  const docIds = corpusIds(docTexts);
  const qIds = corpusIds(queryTexts);
  for (const [name, choice] of Object.entries(DIM_CHOICES)) {
    const t = tables[choice.table];
    const embed = (ids: number[], keep: number[]) => {
      const v = new Float64Array(keep.length);
      for (const id of ids) for (let k = 0; k < keep.length; k++) v[k] += t.table[id * t.dim + keep[k]];
      let n = 0;
      for (const x of v) n += x * x;
      n = Math.sqrt(n) || 1;
      return v.map((x) => x / n);
    };
    for (const k of size.curveDims) {
      const keep = choice.pick(t, k);
      const { ndcg } = quality(docIds.map((ids) => embed(ids, keep)), qIds.map((ids) => embed(ids, keep)));
      metrics.push(measured(`static model: nDCG@10 keeping ${k} of 100 dims`, '', ndcg, { variant: name, note: `${mean(ndcg).toFixed(4)}; ${keep.length} dims ${choice.what.replace(/\bk\b/g, String(keep.length))}` }));
    }
  }
  return metrics;
}

export default defineLesson<Size, Input>({
  id: 't3/05-pruning',
  title: 'Pruning: whole FFN neurons and heads removed by importance (seeded encoder); vocabulary and dimensions of the static table',
  workload:
    'the seeded encoder (random weights: outputs carry no meaning) run by onnxruntime-node on one thread; the timed call is one run at batch 8, ' +
    'seq 64. Headline: the serialised model in bytes; latency at batch 8/32 and output cosine to the unpruned model beside it (plain seeded ' +
    'weights and weights with a planted spread of importance); then the static SIF model with its vocabulary and dimensions pruned, and its Cranfield nDCG@10',
  sizes: {
    quick: {
      encoder: { layers: 2, hidden: 128, heads: 4, ffn: 512, vocab: 8_000, maxPositions: 128 },
      label: 'small encoder (2 layers, hidden 128, 4 heads, FFN 512, vocabulary 8,000)',
      seq: 64,
      latencyRuns: 5,
      fidelityTexts: 100,
      fullVocabulary: false,
      curveDims: [100, 64, 32],
    },
    full: { encoder: {}, label: 'MiniLM-L6 shape (6 layers, hidden 384, 12 heads, FFN 1536, vocabulary 30,522)', seq: 64, latencyRuns: 7, fidelityTexts: 300, fullVocabulary: true, curveDims: [100, 80, 64, 48, 32, 16] },
  },
  setup: async (size, ctx) => {
    if (ctx.model) ctx.log("--model ignored: this lesson prunes the seeded encoder's weights by name (and the static model); run lessons 01-03, 06, 08-12 on your model");
    ctx.log(`building the ${size.label} with seeded weights, and with a planted spread of importance`);
    const weights = encoderWeights(size.encoder);
    const spread = importanceSpreadWeights(size.encoder, SPREAD);
    const ex = ctx.exercise as Mod | undefined;
    const prunes: Record<string, Prune> = Object.fromEntries(Object.entries(VARIANTS).map(([k, v]) => [k, v.prune]));
    if (ex) prunes[EXERCISE] = (w) => ex.pruneEncoder(w, HALF);
    const models: Record<string, Uint8Array> = {};
    const sessions: Record<string, ort.InferenceSession> = {};
    const planted: Record<string, Uint8Array> = {};
    for (const [name, prune] of Object.entries(prunes)) {
      ctx.log(`pruning and loading: ${name}`);
      models[name] = buildEncoderFromWeights(prune(weights));
      sessions[name] = await openSession(models[name]);
      planted[name] = buildEncoderFromWeights(prune(spread));
    }
    const vocab = weights.config.vocab;
    const cache = new Map<number, Record<string, ort.Tensor>>();
    const feeds = (batch: number) => {
      let f = cache.get(batch);
      if (!f) {
        f = tokenFeeds(seededTexts(batch, vocab, size.seq, size.seq, 1000 + batch));
        cache.set(batch, f);
      }
      return f;
    };
    return { size, vocab, models, sessions, planted, feeds };
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
    ctx.log(`fidelity: ${texts.length} seeded inputs through every model, plain seeded weights and planted spread`);
    const ref = await embedAll(input.sessions.before, texts);
    const plantedRef = await (async () => {
      const s = await openSession(input.planted.before);
      const rows = await embedAll(s, texts);
      await s.release();
      return rows;
    })();
    for (const name of names) {
      const variant = { variant: name };
      const what = name === EXERCISE ? 'exercise.ts at 50% / 50%' : VARIANTS[name].what;
      metrics.push(measured(HEADLINE, 'bytes', [input.models[name].length], { ...variant, note: `${what}; ${size.label}, the serialised ONNX model` }));
      const cos = name === 'before' ? ref.map(() => 1) : rowCosines(ref, await embedAll(input.sessions[name], texts));
      let plantedCos = cos.map(() => 1);
      if (name !== 'before') {
        const s = await openSession(input.planted[name]);
        plantedCos = rowCosines(plantedRef, await embedAll(s, texts));
        await s.release();
      }
      const avg = (xs: number[]) => (xs.reduce((a, b) => a + b, 0) / xs.length).toFixed(5);
      metrics.push(
        measured('cosine to unpruned, seeded weights, mean', '', cos, {
          ...variant,
          note: `${avg(cos)} over ${texts.length} seeded inputs of 8-${size.seq} tokens; every neuron looks alike, the importance signal is weak; ${FIDELITY_NOTE}`,
        }),
        measured('cosine to unpruned, seeded weights, least', '', cos, { ...variant, stat: 'min', note: `${Math.min(...cos).toFixed(5)}; ${FIDELITY_NOTE}` }),
        measured('cosine to unpruned, planted importance, mean', '', plantedCos, {
          ...variant,
          note: `${avg(plantedCos)}; the same pruning of weights whose neurons and heads differ in importance (spread ${SPREAD}, data.ts); ${FIDELITY_NOTE}`,
        }),
        measured('cosine to unpruned, planted importance, least', '', plantedCos, { ...variant, stat: 'min', note: `${Math.min(...plantedCos).toFixed(5)}; ${FIDELITY_NOTE}` }),
      );
    }
    // latency: the variants in rotation within each batch size, so load on the machine falls on all of them alike
    metrics.push(...(await latencyAtBatches(input.sessions, input.feeds, BATCHES, size.latencyRuns, `one run, seq ${size.seq}, intraOpNumThreads 1`)));
    metrics.push(...(await staticModelMetrics(size, ctx.log)));
    return { metrics };
  },
});
