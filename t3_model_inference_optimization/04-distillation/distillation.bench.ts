/**
 * Benchmark for 04-distillation: the engine's static embedder (SIF-weighted GloVe-100d as an ONNX graph, 341,479
 * words × 100) as shipped (before), its table in int8 (lesson 01's `quantizeGatherTable`), the same teacher cut to the
 * corpus's vocabulary, and students distilled from it (after: 64-d; 48-d, 32-d; 64-d with an int8 table).
 * Run: npm run t3 -- --only 04-distillation [--quick] [--impl exercise]
 *
 * Corpus: the 1,400 Cranfield documents (title + text) and the 225 judged queries, when ../shared/datasets/cranfield
 * exists (or LAB_DATASETS); else 1,400 Brown paragraphs and 200 Brown sentences as queries, with no relevance
 * judgements (the nDCG and recall rows are then skipped, with a message saying where it looked). The teacher is fitted
 * on the documents; every student is distilled from it with the documents and the queries as its texts.
 *
 * Headline: the model's size in bytes (the serialised ONNX model: counted, the same on every machine). The timed call
 * embeds the 1,400 documents (token ids prepared beforehand; one session.run per 32 documents, one intra-op thread).
 * From extras: Cranfield nDCG@10 and Recall@100 of dense retrieval (exact cosine over whole documents), and how many
 * of each document's top-10 neighbours (and each query's top-10 documents) the model shares with the teacher.
 *
 * Quick and full run the same models; full times more calls per variant (the runner's longer rounds) and also
 * distils with each of the checkpoint's wrong solutions (wrong/*.ts) at after.ts's width, reporting their size,
 * overlap, nDCG@10 and Recall@100 as "wrong idea: …" figures (not timed). The teacher as shipped is built in both
 * (about 1.5 s to build, 1.5 s to load, 137 MB).
 */
import { fileURLToPath } from 'node:url';
import type * as ort from 'onnxruntime-node';
import { judgedQueries, loadBeir } from '../../shared/corpus/beir.ts';
import type { SifEmbedder } from '../../shared/embed/sif.ts';
import { ndcgAt, recallAt } from '../../shared/eval/metrics.ts';
import { wrongSolutions } from '../../shared/lab/checkpoint.ts';
import { defineLesson, EXERCISE, type Metric } from '../../shared/lab/lesson.ts';
import { measured } from '../../shared/lab/metric.ts';
import { nearestRows, overlaps, teacherModel, topNeighbours, type StaticModel } from '../../shared/model/distill.ts';
import { quantizeGatherTable } from '../../shared/model/quantize.ts';
import { embedAll, openSession } from '../../shared/model/session.ts';
import { corpusVocabulary } from '../../shared/model/static-sif.ts';
import { datasetsDir, findDataset } from '../../shared/util/paths.ts';
import * as after from './after.ts';
import * as before from './before.ts';
import { brownCorpus, fittedTeacher } from './data.ts';

type Mod = typeof after;

const HEADLINE = 'model size';
/** The student width after.ts is measured at. */
const AFTER_DIM = 64;

/** Both modes run the same models on the same corpus; full mode times each variant longer (the runner's rounds). */
interface Size {
  /** Also distil with each wrong/*.ts at after.ts's width and measure its overlap and nDCG (not timed; ~10 s). */
  wrongIdeas: boolean;
}

interface Corpus {
  label: string;
  docs: string[];
  queries: string[];
  /** Relevance judgements per query (Cranfield), or null (the Brown fallback). */
  judged: { docIds: string[]; qrels: ReadonlyMap<string, number>[] } | null;
}

interface Variant {
  model: StaticModel;
  what: string;
  session: ort.InferenceSession;
  docIds: number[][];
  queryIds: number[][];
  /** Time to build the model in setup (ms): distillation for students, the rewrite for int8 tables. */
  buildMs: number;
}

interface Input {
  size: Size;
  corpus: Corpus;
  teacher: SifEmbedder;
  vocabularySize: number;
  variants: Record<string, Variant>;
}

/** What each variant is built from: the teacher, after.ts's distil at some width, an int8 table over either. */
type Recipe = (sif: SifEmbedder, texts: readonly string[], built: Record<string, StaticModel>) => Promise<StaticModel> | StaticModel;

const int8 = (m: StaticModel): StaticModel => ({ ...m, bytes: quantizeGatherTable(m.bytes, m.table) });

const RECIPES: Record<string, { recipe: Recipe; what: string }> = {
  before: { recipe: (sif, texts) => before.distill(sif, texts, AFTER_DIM), what: 'the teacher as shipped: 341,479 words + padding × 100 float32' },
  'teacher int8 table (lesson 01)': {
    recipe: (_sif, _texts, built) => int8(built.before),
    what: "the teacher's whole table in int8, one scale per row (quantizeGatherTable)",
  },
  'teacher, corpus vocabulary (100-d)': {
    recipe: (sif, texts) => teacherModel(sif, { vocabulary: corpusVocabulary(sif, texts) }),
    what: 'the teacher cut to the words of the documents and queries, 100 columns, no projection',
  },
  'teacher, corpus vocabulary + int8 table': {
    recipe: (_sif, _texts, built) => int8(built['teacher, corpus vocabulary (100-d)']),
    what: 'the vocabulary cut and lesson 01 together: 100 columns of int8, one scale per row',
  },
  after: { recipe: (sif, texts) => after.distill(sif, texts, AFTER_DIM), what: `after.ts: corpus vocabulary, ${AFTER_DIM} principal axes of the teacher's embeddings` },
  'student 48-d': { recipe: (sif, texts) => after.distill(sif, texts, 48), what: "after.ts at 48 columns" },
  'student 32-d': { recipe: (sif, texts) => after.distill(sif, texts, 32), what: "after.ts at 32 columns" },
  [`student ${AFTER_DIM}-d + int8 table`]: {
    recipe: (_sif, _texts, built) => int8(built.after),
    what: `after.ts at ${AFTER_DIM} columns, its table in int8 with one scale per row (lesson 01)`,
  },
};

async function loadCorpus(log: (m: string) => void): Promise<Corpus> {
  const dir = findDataset('cranfield');
  if (dir) {
    const data = await loadBeir(dir);
    const queries = judgedQueries(data.queries, data.qrels);
    return {
      label: `Cranfield: ${data.docs.length} documents (title + text), ${queries.length} judged queries`,
      docs: data.docs.map((d) => (d.title ? `${d.title}\n${d.text}` : d.text)),
      queries: queries.map((q) => q.text),
      judged: { docIds: data.docs.map((d) => d.id), qrels: queries.map((q) => data.qrels.get(q.id)!) },
    };
  }
  log(`Cranfield nDCG@10 / Recall@100: skipped, no cranfield collection under ${datasetsDir()} (set LAB_DATASETS); measuring on Brown paragraphs instead`);
  const b = await brownCorpus({ files: 60, docs: 1_400, queries: 200 });
  return { label: b.label, docs: b.docs, queries: b.queries, judged: null };
}

function flat(rows: Float32Array[]): { data: Float32Array; dim: number } {
  const dim = rows[0].length;
  const data = new Float32Array(rows.length * dim);
  rows.forEach((r, i) => data.set(r, i * dim));
  return { data, dim };
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

export default defineLesson<Size, Input>({
  id: 't3/04-distillation',
  title: 'Distillation: the 341k-word, 100-d static teacher into a corpus-vocabulary student of 32-64 principal axes',
  workload:
    'the static SIF model (GloVe-100d, real weights) and its students run by onnxruntime-node on one thread; the timed call embeds the 1,400 Cranfield ' +
    'documents (Brown paragraphs without the dataset) in runs of 32. Headline: the serialised model in bytes; Cranfield nDCG@10, Recall@100 and ' +
    'top-10 neighbour overlap with the teacher beside it',
  sizes: { quick: { wrongIdeas: false }, full: { wrongIdeas: true } },
  // each call embeds every document (~30-100 ms): 3 calls per round are enough, the time floor adds more in full mode
  options: { iterations: 3 },
  setup: async (size, ctx) => {
    if (ctx.model) ctx.log('--model ignored: this lesson distils the static SIF model (real weights), not an encoder');
    const corpus = await loadCorpus(ctx.log);
    ctx.log(`corpus: ${corpus.label}`);
    const teacher = await fittedTeacher(corpus.docs);
    const texts = [...corpus.docs, ...corpus.queries];
    const recipes: Record<string, { recipe: Recipe; what: string }> = { ...RECIPES };
    const ex = ctx.exercise as Mod | undefined;
    if (ex) recipes[EXERCISE] = { recipe: (sif, t) => ex.distill(sif, t, AFTER_DIM), what: `exercise.ts at ${AFTER_DIM} columns` };
    const built: Record<string, StaticModel> = {};
    const variants: Record<string, Variant> = {};
    for (const [name, { recipe, what }] of Object.entries(recipes)) {
      ctx.log(`building and loading: ${name}`);
      const t0 = performance.now();
      const model = await recipe(teacher, texts, built);
      const buildMs = performance.now() - t0;
      built[name] = model;
      const ids = (some: string[]) => model.tokenIds(some).map((a) => Array.from(a));
      variants[name] = { model, what, session: await openSession(model.bytes), docIds: ids(corpus.docs), queryIds: ids(corpus.queries), buildMs };
    }
    return { size, corpus, teacher, vocabularySize: corpusVocabulary(teacher, texts).length, variants };
  },
  teardown: async (input) => {
    for (const v of Object.values(input.variants)) await v.session.release();
  },
  baseline: 'before',
  headline: { name: HEADLINE, unit: 'bytes', better: 'lower', metric: HEADLINE },
  variants: Object.fromEntries(Object.keys(RECIPES).map((name) => [name, (input: Input) => embedAll(input.variants[name].session, input.variants[name].docIds)])),
  exercise: (input) => embedAll(input.variants[EXERCISE].session, input.variants[EXERCISE].docIds),
  extras: async (input, ctx) => {
    const { corpus } = input;
    const metrics: Metric[] = [];
    const ref = input.variants.before;
    const refDocs = await embedAll(ref.session, ref.docIds);
    const refQueries = await embedAll(ref.session, ref.queryIds);
    const refFlat = flat(refDocs);
    ctx.log(`teacher: top-10 neighbours of ${refDocs.length} documents`);
    const refNeighbours = topNeighbours(refFlat.data, refFlat.dim, 10);
    const refRanked = nearestRows(flat(refQueries).data, refFlat.data, refFlat.dim, 10);

    /** Overlap with the teacher (documents' neighbours, queries' top 10), nDCG@10 and Recall@100 of one model. */
    const quality = (docs: Float32Array[], queries: Float32Array[], variant: string, prefix = ''): Metric[] => {
      const out: Metric[] = [];
      const f = flat(docs);
      const nb = variant === 'before' ? refNeighbours : topNeighbours(f.data, f.dim, 10);
      const ov = overlaps(refNeighbours, nb);
      out.push(
        measured(`${prefix}neighbour overlap@10 with the teacher`, '', ov, {
          variant,
          note: `${mean(ov).toFixed(3)}: share of each document's top-10 neighbours (teacher) the model also ranks top-10; ${docs.length} documents`,
        }),
      );
      const ranked = Array.from(nearestRows(flat(queries).data, f.data, f.dim, 100), (r) => Array.from(r));
      const qov = overlaps(refRanked, ranked.map((r) => r.slice(0, 10)));
      out.push(measured(`${prefix}query top-10 overlap with the teacher`, '', qov, { variant, note: `${mean(qov).toFixed(3)}; ${queries.length} queries, exact cosine` }));
      if (corpus.judged) {
        const { docIds, qrels } = corpus.judged;
        const nd = ranked.map((r, i) => ndcgAt(10, r.slice(0, 10).map((j) => docIds[j]), qrels[i]));
        const rc = ranked.map((r, i) => recallAt(100, r.map((j) => docIds[j]), qrels[i]));
        const note = `${corpus.label}; dense retrieval, exact cosine over whole documents`;
        out.push(
          measured(`${prefix}Cranfield nDCG@10`, '', nd, { variant, note: `${mean(nd).toFixed(4)}; ${note}` }),
          measured(`${prefix}Cranfield Recall@100`, '', rc, { variant, note: `${mean(rc).toFixed(4)}; ${note}` }),
        );
      }
      return out;
    };

    for (const [name, v] of Object.entries(input.variants)) {
      ctx.log(`measuring: ${name}`);
      const m = v.model;
      const what = `${v.what}; ${m.rows.toLocaleString('en-US')} rows × ${m.dim}`;
      metrics.push(measured(HEADLINE, 'bytes', [m.bytes.length], { variant: name, note: `${what}; the serialised ONNX model` }));
      metrics.push({ name: 'build time', value: v.buildMs, unit: 'ms', variant: name, note: 'one run, in setup: vocabulary, rows, axes, projection, graph (int8 rows: the rewrite only)' });
      const docs = name === 'before' ? refDocs : await embedAll(v.session, v.docIds);
      const queries = name === 'before' ? refQueries : await embedAll(v.session, v.queryIds);
      metrics.push(...quality(docs, queries, name));
    }

    if (input.size.wrongIdeas) {
      // what the checkpoint's wrong solutions cost on this corpus, at after.ts's width (not timed: not variants)
      const texts = [...corpus.docs, ...corpus.queries];
      const dir = fileURLToPath(new URL('.', import.meta.url));
      for (const w of wrongSolutions(dir)) {
        ctx.log(`wrong idea: ${w}`);
        const mod = (await import(new URL(`${w}.ts`, import.meta.url).href)) as Mod;
        const model = await mod.distill(input.teacher, texts, AFTER_DIM);
        const s = await openSession(model.bytes);
        const ids = (some: string[]) => model.tokenIds(some).map((a) => Array.from(a));
        const docs = await embedAll(s, ids(corpus.docs));
        const queries = await embedAll(s, ids(corpus.queries));
        await s.release();
        metrics.push({ name: 'wrong idea: model size', value: model.bytes.length, unit: 'bytes', variant: w, note: `${model.rows.toLocaleString('en-US')} rows × ${model.dim}` });
        metrics.push(...quality(docs, queries, w, 'wrong idea: '));
      }
    }
    ctx.log(`corpus vocabulary: ${input.vocabularySize.toLocaleString('en-US')} words the documents and queries use`);
    return { metrics };
  },
});
