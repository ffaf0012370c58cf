/**
 * Benchmark for 10-tiered-storage: chunk texts read in a seeded Zipf order (s = 1) from a store with a memory budget
 * of 5% of the texts and local disk for 25%, over a cold file of brotli blocks.
 * Run: npm run t2 -- --only 10-tiered-storage [--quick] [--impl exercise]
 *
 * Headline: time per read in the steady state: a fresh store reads the stream one read at a time, the first part to
 * fill its tiers (untimed), the rest in timed batches, the stores taking turns batch by batch (see `passes`). It counts
 * only for a store within the memory budget: holding every text is faster and says so in its note. The timed call
 * (the time table) is 100 reads.
 */
import { performance } from 'node:perf_hooks';
import { defineLesson, EXERCISE, type CurvePoint, type Metric } from '../../shared/lab/lesson.ts';
import { measured } from '../../shared/lab/metric.ts';
import type { BlockFile } from '../../shared/store/block-file.ts';
import { heldAfter } from '../../shared/lab/memory.ts';
import * as after from './after.ts';
import * as before from './before.ts';
import { budgets, coldStore, DISK_SHARE, loadTexts, MEMORY_SHARE, storeDir, ZIPF_S, type Budgets } from './data.ts';
import type { ChunkStore, ColdStore, TierOptions, TierStats } from './types.ts';
import { allInMemory, openHotOnly } from './variants.ts';
import { zipfStream } from './workload.ts';

type Open = (cold: ColdStore, opts: TierOptions) => Promise<ChunkStore>;

const HEADLINE = 'time per read under Zipf';
const CALL = 100;
const ALL_IN_MEMORY = 'all in memory (over the budget)';

interface Size {
  brownDocs: number;
  chunks: number;
  /** Reads in the Zipf stream: the first `warmUp` fill the tiers, the rest are timed. */
  reads: number;
  warmUp: number;
  /** Reads per timed batch. */
  batch: number;
  /** Other memory budgets (shares of the texts) for the hit-rate curve, beside the lesson's 5%; empty: no curve. */
  sweep: number[];
  /**
   * Measure each store's memory from outside after the warm-up. Off in quick mode: at 4 MB of texts the collector's
   * noise (a few hundred KB) is as large as the budget itself.
   */
  outside: boolean;
}

interface Input {
  size: Size;
  texts: string[];
  budgets: Budgets;
  cold: BlockFile;
  dir: string;
  fileBytes: number;
  dispose: () => Promise<void>;
  stream: Int32Array;
  opens: Record<string, Open>;
  stores: Record<string, ChunkStore>;
  cursor: Record<string, number>;
}

const OPENS: Record<string, Open> = {
  before: before.openStore,
  'hot only (no warm tier)': openHotOnly,
  after: after.openStore,
};

async function call(input: Input, name: string): Promise<void> {
  const store = input.stores[name];
  let c = input.cursor[name] ?? 0;
  for (let r = 0; r < CALL; r++, c++) await store.get(input.stream[c % input.stream.length]);
  input.cursor[name] = c;
}

function optionsFor(input: Input, name: string, memoryBytes = input.budgets.memoryBytes): TierOptions {
  return { memoryBytes, diskBytes: input.budgets.diskBytes, dir: storeDir(input.dir, name) };
}

/** Reads after which a store that still holds nothing (no memory, no disk) skips the rest of the warm-up. */
const PROBE = 250;

interface Pass {
  store: ChunkStore;
  /** Memory held after the warm-up, measured from outside. */
  held: number;
  /** Its stats when the timed reads began. */
  start: TierStats;
  perRead: number[];
  coldRead: number;
  coldDecompressed: number;
}

/**
 * Every store reads the same stream. First the warm-up (`size.warmUp` reads), one store after another, each measured
 * from outside for the memory it then holds; a store that still holds nothing after the first 250 reads has no
 * state to warm and skips the rest. Then the timed reads, in batches, the stores taking turns batch by batch (and
 * rotating who goes first), so a machine that gets busier or quieter during the run weighs on all of them alike.
 */
async function passes(input: Input, rows: Array<[string, () => Promise<ChunkStore>]>, log: (msg: string) => void): Promise<Map<string, Pass>> {
  const { stream, cold, size } = input;
  const out = new Map<string, Pass>();
  for (const [name, open] of rows) {
    try {
      const warmUp = async () => {
        const store = await open();
        for (let r = 0; r < size.warmUp; r++) {
          if (r === PROBE) {
            const s = store.stats();
            if (s.memoryBytes === 0 && s.diskBytes === 0) break;
          }
          await store.get(stream[r]);
        }
        return store;
      };
      const h = size.outside ? await heldAfter(warmUp) : { value: await warmUp(), bytes: Number.NaN };
      out.set(name, { store: h.value, held: h.bytes, start: h.value.stats(), perRead: [], coldRead: 0, coldDecompressed: 0 });
    } catch (err) {
      log(`${name}: failed: ${(err as Error).message}`);
    }
  }
  const names = [...out.keys()];
  let turn = 0;
  for (let b = size.warmUp; b < stream.length; b += size.batch, turn++) {
    const end = Math.min(stream.length, b + size.batch);
    for (let k = 0; k < names.length; k++) {
      const row = out.get(names[(k + turn) % names.length])!;
      const r0 = cold.bytesRead;
      const d0 = cold.bytesDecompressed;
      const t0 = performance.now();
      for (let r = b; r < end; r++) await row.store.get(stream[r]);
      row.perRead.push((performance.now() - t0) / (end - b));
      row.coldRead += cold.bytesRead - r0;
      row.coldDecompressed += cold.bytesDecompressed - d0;
    }
  }
  return out;
}

export default defineLesson<Size, Input>({
  id: 't2/10-tiered-storage',
  title: 'Tiered storage: every read from the compressed file vs a bounded LRU in memory and a ring file on local disk',
  workload:
    `reads of chunk texts in a seeded Zipf order (s = ${ZIPF_S}, popular chunks scattered over the corpus) from a store ` +
    `with memory for ${MEMORY_SHARE * 100}% of the texts and local disk for ${DISK_SHARE * 100}%, over a cold file of ` +
    `brotli blocks (~32 KiB of text each). Headline: time per read, counted only within the memory budget`,
  sizes: {
    // quick: the checkpoint's texts (the first 1,900 chunks of 150 Brown documents)
    quick: { brownDocs: 150, chunks: 1_900, reads: 2_000, warmUp: 1_200, batch: 200, sweep: [], outside: false },
    full: { brownDocs: 500, chunks: 100_000, reads: 120_000, warmUp: 80_000, batch: 2_000, sweep: [0.01, 0.2], outside: true },
  },
  setup: async (size, ctx) => {
    const texts = await loadTexts(size, ctx.log);
    ctx.log(`writing the cold file (${texts.length} texts)`);
    const { cold, dir, fileBytes, dispose } = await coldStore(texts);
    const b = budgets(texts);
    const ex = ctx.exercise as typeof after | undefined;
    const opens: Record<string, Open> = { ...OPENS, ...(ex ? { [EXERCISE]: ex.openStore } : {}) };
    const input: Input = {
      size,
      texts,
      budgets: b,
      cold,
      dir,
      fileBytes,
      dispose,
      stream: zipfStream(texts.length, size.reads, ZIPF_S, 7),
      opens,
      stores: { [ALL_IN_MEMORY]: allInMemory(texts) },
      cursor: {},
    };
    for (const [name, open] of Object.entries(opens)) input.stores[name] = await open(cold, optionsFor(input, name));
    return input;
  },
  teardown: async (input) => {
    for (const store of Object.values(input.stores)) await store.close();
    await input.dispose();
  },
  baseline: 'before',
  headline: { name: HEADLINE, unit: 'ms', better: 'lower', metric: HEADLINE },
  variants: {
    before: (input) => call(input, 'before'),
    [ALL_IN_MEMORY]: (input) => call(input, ALL_IN_MEMORY),
    'hot only (no warm tier)': (input) => call(input, 'hot only (no warm tier)'),
    after: (input) => call(input, 'after'),
  },
  exercise: (input) => call(input, EXERCISE),
  extras: async (input, ctx) => {
    const metrics: Metric[] = [];
    const { budgets: b, stream } = input;
    const n = stream.length;
    metrics.push(
      { name: 'texts', value: input.texts.length, unit: 'chunks', note: `${b.allBytes} bytes as textCost counts them; cold file ${input.fileBytes} bytes` },
      { name: 'memory budget', value: b.memoryBytes, unit: 'bytes', note: `${MEMORY_SHARE * 100}% of the texts` },
      { name: 'local disk budget', value: b.diskBytes, unit: 'bytes', note: `${DISK_SHARE * 100}% of the texts' UTF-8 bytes` },
    );
    const rows: Array<[string, () => Promise<ChunkStore>]> = [
      ...Object.entries(input.opens).map(([name, open]) => [name, () => open(input.cold, optionsFor(input, name))] as [string, () => Promise<ChunkStore>]),
      [ALL_IN_MEMORY, async () => allInMemory(input.texts.map((t) => Buffer.from(t).toString()))],
    ];
    const timed = n - input.size.warmUp;
    ctx.log(`${rows.length} stores: ${input.size.warmUp} reads to warm up, then ${timed} timed, taking turns`);
    const results = await passes(input, rows, ctx.log);
    const points: CurvePoint[] = [];
    for (const [name, p] of results) {
      const s = p.store.stats();
      await p.store.close();
      const over = s.peakMemoryBytes > b.memoryBytes;
      const v = { variant: name };
      const pct = (x: number) => (100 * x) / timed;
      const hot = s.hot - p.start.hot;
      const warm = s.warm - p.start.warm;
      const fromCold = s.cold - p.start.cold;
      metrics.push(
        measured(HEADLINE, 'ms', p.perRead, {
          ...v,
          note:
            `mean of batches of ${input.size.batch} reads after ${input.size.warmUp} to warm up, the stores taking ` +
            `turns; memory ${s.peakMemoryBytes} bytes at the peak, budget ${b.memoryBytes}` +
            (over ? ': OVER THE BUDGET, does not count' : ''),
        }),
        { name: 'reads answered from memory', value: pct(hot), unit: '%', ...v, note: `of the ${timed} timed reads` },
        { name: 'reads answered from local disk', value: pct(warm), unit: '%', ...v },
        { name: 'reads that went to the cold file', value: pct(fromCold), unit: '%', ...v },
        { name: 'memory held for texts at the peak (counted by the store)', value: s.peakMemoryBytes, unit: 'bytes', ...v },
        ...(Number.isNaN(p.held)
          ? []
          : [{ name: 'memory held after the warm-up (measured from outside)', value: p.held, unit: 'bytes', ...v, note: 'heap + buffers after a full GC: texts and bookkeeping (± a few hundred KB of collector noise)' }]),
        { name: 'cold file: bytes read and decompressed per read', value: (p.coldRead + p.coldDecompressed) / timed, unit: 'bytes', ...v, note: `${(p.coldRead / timed).toFixed(0)} read + ${(p.coldDecompressed / timed).toFixed(0)} decompressed, over the timed reads` },
      );
      if (name === 'after' && input.size.sweep.length > 0) {
        points.push({ series: 'from memory', x: MEMORY_SHARE * 100, y: pct(hot), label: `${MEMORY_SHARE * 100}%` });
        points.push({ series: 'from memory or local disk', x: MEMORY_SHARE * 100, y: pct(hot + warm) });
      }
    }
    // How the share of reads answered from memory grows with the memory budget (after.ts, same stream, same split).
    for (const share of input.size.sweep) {
      const memoryBytes = Math.floor(share * b.allBytes);
      const store = await after.openStore(input.cold, optionsFor(input, `sweep-${share}`, memoryBytes));
      for (let r = 0; r < input.size.warmUp; r++) await store.get(stream[r]);
      const s0 = store.stats();
      for (let r = input.size.warmUp; r < n; r++) await store.get(stream[r]);
      const s = store.stats();
      await store.close();
      const hot = s.hot - s0.hot;
      const warm = s.warm - s0.warm;
      ctx.log(`memory ${share * 100}%: ${pct1(hot, timed)} from memory, ${pct1(warm, timed)} from local disk`);
      points.push({ series: 'from memory', x: share * 100, y: (100 * hot) / timed, label: `${share * 100}%` });
      points.push({ series: 'from memory or local disk', x: share * 100, y: (100 * (hot + warm)) / timed });
    }
    return {
      metrics,
      curves: points.length
        ? [{ id: 'hits-vs-budget', title: `reads answered without the cold file against the memory budget (Zipf s = ${ZIPF_S}, local disk ${DISK_SHARE * 100}%)`, xLabel: 'memory budget, % of the texts (log)', yLabel: '% of reads', xLog: true, points }]
        : [],
    };
  },
});

function pct1(x: number, n: number): string {
  return `${((100 * x) / n).toFixed(1)}%`;
}
