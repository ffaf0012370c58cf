/**
 * Benchmark for 09-compression: the engine's SIF vectors and Brown chunk texts, held at full size (before) or
 * compressed (after: int8 codes + exact rescoring from a vector file; brotli blocks of 32 KiB), with the steps between.
 * Run: npm run t2 -- --only 09-compression [--quick] [--impl exercise]
 *
 * Headline: bytes per vector the index holds in memory, measured from outside (heap + array-buffer growth after a
 * full GC, the index built from fresh copies of the vectors; three builds, two in quick mode). It counts only with
 * recall@10 ≥ 0.95 against the exact float32 search: a row below the floor says so in its note. The timed call is
 * one top-10 query, so the time table is the search speed.
 */
import { performance } from 'node:perf_hooks';
import { defineLesson, EXERCISE, type CurvePoint, type Metric } from '../../shared/lab/lesson.ts';
import { measured } from '../../shared/lab/metric.ts';
import { TextBlocks } from '../../shared/store/blocks.ts';
import type { VectorFile } from '../../shared/store/vector-file.ts';
import { mulberry32 } from '../../shared/util/random.ts';
import * as after from './after.ts';
import * as before from './before.ts';
import { fullPrecisionFile, K, loadData, recallOf, type Data, type DataSize } from './data.ts';
import { heldBytes, heldEach } from '../../shared/lab/memory.ts';
import type { FullRows, TextStore, VectorStore } from './types.ts';
import { buildBinary, buildF16, buildInt8Only, keptAsReturned, packBlocksOf, packBrotliEach, packGzipEach } from './variants.ts';

type Mod = typeof after;
type Build = (vectors: Float32Array[], full: FullRows) => VectorStore;
type Pack = (texts: string[]) => TextStore;

const FLOOR = 0.95;
const HEADLINE = 'bytes per vector held in memory';
/** Rescoring depth (× k) of the binary variant that reaches the floor. */
const BINARY_DEEP = 100;

interface Size extends DataSize {
  /** Builds measured from outside per variant (the headline's spread). */
  trials: number;
  /** Packs measured from outside per text layout. */
  textTrials: number;
  /** Queries whose recall, rows read and score error are measured (the first ones). */
  qualityQueries: number;
  /** Random text reads timed per layout. */
  reads: number;
  /** Every text layout and the per-chunk buffer traps (full), or before, gzip per chunk, after, one stream (quick). */
  allLayouts: boolean;
  /** Brown chunk texts measured (the first ones). */
  textChunks: number;
}

interface Input {
  size: Size;
  data: Data;
  file: VectorFile;
  dispose: () => void;
  /** Variant name → its build function and the index it built. */
  builds: Record<string, Build>;
  indexes: Record<string, VectorStore>;
  /** Text layouts measured in extras: name → pack function. */
  packs: Array<[string, Pack, string]>;
  cursor: Record<string, number>;
}

const ROWS: Record<string, Build> = {
  before: before.buildIndex,
  'half precision (f16)': buildF16,
  'int8, no rescoring': buildInt8Only,
  after: after.buildIndex,
  'binary + rescoring 3 × k': buildBinary(3),
  [`binary + rescoring ${BINARY_DEEP} × k`]: buildBinary(BINARY_DEEP),
};

function next(input: Input, name: string): unknown {
  const i = input.cursor[name] ?? 0;
  input.cursor[name] = i + 1;
  return input.indexes[name].search(input.data.queries[i % input.data.queries.length], K);
}

const copies = (vs: Float32Array[]) => vs.map((v) => Float32Array.from(v));
const fresh = (ts: string[]) => ts.map((t) => Buffer.from(t).toString());

/** Per-query recall, rows read from the vector file, and the largest score error among the returned hits. */
function quality(index: VectorStore, input: Input): { recall: number[]; reads: number[]; scoreError: number[] } {
  const { data, file } = input;
  const recall: number[] = [];
  const reads: number[] = [];
  const scoreError: number[] = [];
  data.queries.slice(0, input.size.qualityQueries).forEach((q, i) => {
    const r0 = file.rowsRead;
    const hits = index.search(q, K);
    reads.push(file.rowsRead - r0);
    recall.push(100 * recallOf(hits, data.truth[i]));
    let qq = 0;
    for (const x of q) qq += x * x;
    let worst = 0;
    for (const h of hits) {
      const row = data.exact.vector(h.label)!;
      let dot = 0;
      for (let j = 0; j < q.length; j++) dot += q[j] * row[j];
      worst = Math.max(worst, Math.abs(h.score - (qq > 0 ? dot / Math.sqrt(qq) : 0)));
    }
    scoreError.push(worst);
  });
  return { recall, reads, scoreError };
}

export default defineLesson<Size, Input>({
  id: 't2/09-compression',
  title: 'Compression: float32 vectors and raw texts vs int8 codes with exact rescoring and brotli blocks',
  workload:
    `one top-${K} cosine query (Brown known-item phrases, in rotation) over the engine's SIF vectors of n chunks ` +
    `(Brown, grown with the corpus generator); the full-precision rows live in a file read by offset; texts are the ` +
    `Brown chunks. Headline: bytes per vector in memory, counted only at recall@${K} ≥ ${FLOOR}`,
  sizes: {
    // quick: the size the checkpoint uses, so one cached embedding serves both
    quick: { brownDocs: 150, chunks: 4_000, queries: 100, trials: 2, textTrials: 1, qualityQueries: 40, reads: 500, allLayouts: false, textChunks: 1_000 },
    full: { brownDocs: 500, chunks: 100_000, queries: 200, trials: 3, textTrials: 3, qualityQueries: 200, reads: 5_000, allLayouts: true, textChunks: 1_000_000 },
  },
  setup: async (size, ctx) => {
    const data = await loadData(size, ctx.log);
    const { file, dispose } = fullPrecisionFile(data.vectors, data.dim);
    const ex = ctx.exercise as Mod | undefined;
    const builds: Record<string, Build> = { ...ROWS, ...(ex ? { [EXERCISE]: ex.buildIndex } : {}) };
    const indexes: Record<string, VectorStore> = {};
    for (const [name, build] of Object.entries(builds)) {
      ctx.log(`building ${name}`);
      indexes[name] = build(data.vectors, file);
    }
    const all = size.allLayouts;
    const packs: Array<[string, Pack, string]> = [
      ['before', before.packTexts, 'a string per text'],
      ['text: gzip per chunk', packGzipEach, 'one gzip member per text, packed back to back in one buffer'],
      ...(all ? [['text: brotli per chunk', packBrotliEach, 'one brotli stream per text (quality 5), packed back to back'] as [string, Pack, string]] : []),
      ...(all ? [['text: blocks of 4 KiB', packBlocksOf(4 * 1024), 'brotli blocks of ~4 KiB'] as [string, Pack, string]] : []),
      ['after', after.packTexts, 'brotli blocks of ~32 KiB'],
      ['text: one stream', packBlocksOf(Number.MAX_SAFE_INTEGER), 'the whole corpus as one brotli stream'],
      ...(ex ? [[EXERCISE, ex.packTexts, 'exercise.ts'] as [string, Pack, string]] : []),
    ];
    return { size, data, file, dispose, builds, indexes, packs, cursor: {} };
  },
  teardown: (input) => input.dispose(),
  baseline: 'before',
  headline: { name: HEADLINE, unit: 'bytes', better: 'lower', metric: HEADLINE },
  variants: Object.fromEntries(Object.keys(ROWS).map((name) => [name, (input: Input) => next(input, name)])),
  exercise: (input) => next(input, EXERCISE),
  extras: async (input, ctx) => {
    const metrics: Metric[] = [];
    const points: CurvePoint[] = [];
    const { data } = input;
    const n = data.vectors.length;

    // Every index was built once in setup, and `quality` runs every search: the code a build or a search compiles
    // on its first run is warm before the first reading. The builds are then measured in rotation (each from fresh
    // copies of the vectors, each charged with the growth since the one before): one held reading per build.
    const names = Object.keys(input.builds);
    const qualities = names.map((name) => quality(input.indexes[name], input));
    const rotation = Array.from({ length: input.size.trials * names.length }, (_, i) => names[i % names.length]);
    ctx.log(`memory held: ${rotation.length} builds of ${n} vectors, in rotation`);
    let built = 0;
    const held = await heldEach(() => input.builds[rotation[built++]](copies(data.vectors), input.file), rotation.length);
    const perVectorOf = new Map<string, number[]>(names.map((name) => [name, []]));
    held.forEach((h, i) => perVectorOf.get(rotation[i])!.push(h.bytes / h.value.size));
    held.length = 0;
    names.forEach((name, i) => {
      const q = qualities[i];
      const perVector = perVectorOf.get(name)!;
      const recall = q.recall.reduce((s, r) => s + r, 0) / q.recall.length / 100;
      const below = recall < FLOOR;
      if (below) ctx.log(`${name}: recall@${K} ${recall.toFixed(3)}, below the ${FLOOR} floor: its bytes per vector do not count`);
      const v = { variant: name };
      metrics.push(
        measured(HEADLINE, 'bytes', perVector, {
          ...v,
          stat: 'median',
          note:
            `heap + array buffers after a full GC, ${perVector.length > 1 ? `median of ${perVector.length} builds` : 'one build'} of ${n} vectors; recall@${K} ${recall.toFixed(3)}` +
            (below ? `: MISSES the ${FLOOR} floor, does not count` : ''),
        }),
        measured(`recall@${K} against float32`, '%', q.recall, { ...v, note: `${q.recall.length} queries` }),
        measured('full-precision rows read per query', '', q.reads, { ...v, stat: 'max', note: `most over ${q.reads.length} queries; from the vector file on disk` }),
        measured('largest score error of a returned hit', '', q.scoreError, { ...v, stat: 'max', note: 'against the float32 cosine; 0 = exact scores' }),
      );
      points.push({ series: below ? 'below the recall floor' : 'at the recall floor', x: perVector[0], y: recall, label: name });
    });

    // Texts: memory held per layout (packs from fresh copies), and the time and decompression a random read costs.
    const texts = data.texts.slice(0, input.size.textChunks);
    const raw = texts.reduce((s, t) => s + Buffer.byteLength(t, 'utf8'), 0);
    const rand = mulberry32(3);
    const order = Array.from({ length: input.size.reads }, () => Math.floor(rand() * texts.length));
    // Every layout packs a few texts first (its code warm), then the packs are measured in rotation, like the builds.
    for (const [, pack] of input.packs) pack(fresh(texts.slice(0, 20))).get(1);
    await heldBytes(() => undefined); // lets the warm-ups' garbage go (zlib's buffers are released after a collection)
    const layouts = Array.from({ length: input.size.textTrials * input.packs.length }, (_, i) => input.packs[i % input.packs.length]);
    ctx.log(`memory held: ${layouts.length} packs of ${texts.length} texts, in rotation`);
    const packMs = new Map<string, number[]>(input.packs.map(([name]) => [name, []]));
    let nextPack = 0;
    const packed = await heldEach(() => {
      const [name, pack] = layouts[nextPack++];
      const copy = fresh(texts);
      const t0 = performance.now();
      const store = pack(copy);
      packMs.get(name)!.push(performance.now() - t0);
      return store;
    }, layouts.length);
    for (const [p, [name, , what]] of input.packs.entries()) {
      const mine = packed.filter((_, i) => i % input.packs.length === p);
      const shares = mine.map((h) => (100 * h.bytes) / raw);
      const store = mine[0].value;
      const blocks = store instanceof TextBlocks ? store : undefined;
      const d0 = blocks?.bytesDecompressed ?? 0;
      const batch = 100;
      const perRead: number[] = [];
      for (let b = 0; b + batch <= order.length; b += batch) {
        const t1 = performance.now();
        for (let r = b; r < b + batch; r++) store.get(order[r]);
        perRead.push((performance.now() - t1) / batch);
      }
      const v = { variant: name };
      metrics.push(
        measured('texts held in memory, share of their UTF-8 bytes', '%', shares, {
          ...v,
          stat: 'median',
          note: `${what}; ${texts.length} Brown chunks, ${raw} bytes; ${shares.length > 1 ? `median of ${shares.length} builds` : 'one build'}`,
        }),
        measured('time per random text read', 'ms', perRead, { ...v, stat: 'median', note: `median of batches of ${batch}` }),
        measured('pack time (compress)', 'ms', packMs.get(name)!, { ...v, stat: 'median' }),
      );
      if (blocks) {
        metrics.push({ name: 'bytes decompressed per random read', value: (blocks.bytesDecompressed - d0) / order.length, unit: 'bytes', ...v, note: `${blocks.blocks} blocks` });
      }
    }
    packed.length = 0;
    // The traps of a buffer per chunk: zlib's 16 KiB output buffers, Buffer.from's shared 8 KiB pool slabs.
    for (const copy of input.size.allLayouts ? [false, true] : []) {
      const { bytes: kept } = await heldBytes(() => keptAsReturned(fresh(texts), copy));
      metrics.push({
        name: 'texts held in memory, share of their UTF-8 bytes',
        value: (100 * kept) / raw,
        unit: '%',
        variant: copy ? 'text: gzip per chunk, Buffer.from copies kept' : 'text: gzip per chunk, zlib’s buffers kept',
        note: copy
          ? 'each result copied with Buffer.from: small copies share 8 KiB pool slabs with dead allocations, kept whole'
          : 'each gzipSync() result kept as returned: a view that keeps its whole 16 KiB output buffer alive',
      });
    }
    return {
      metrics,
      curves: [
        {
          id: 'recall-vs-bytes',
          title: `recall@${K} against bytes per vector held in memory (${n} vectors, ${data.dim} dimensions)`,
          xLabel: 'bytes per vector in memory (log)',
          yLabel: `recall@${K}`,
          xLog: true,
          points,
        },
      ],
    };
  },
});
