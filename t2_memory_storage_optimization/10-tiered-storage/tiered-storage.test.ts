/**
 * Checkpoint for 10-tiered-storage. `npm run checkpoint -- 10-tiered-storage` runs it against exercise.ts; plain
 * `npx vitest run` checks before.ts (every read from the cold file) and after.ts (hot LRU + warm ring file + cold).
 *
 * Data: the first 1,900 chunks of 150 Brown documents in a cold file of brotli blocks, read in a seeded Zipf order
 * (s = 1; the popular chunks scattered over the file). Budgets: memory for 5% of the texts, local disk for 25%. The
 * lesson's blocks are 32 KiB; here they are 8 KiB, so that the stores that read cold a lot are checked quickly (what a
 * store does with a text does not depend on how big the block it came from was).
 *
 * Counted, never timed, and deterministic (seeded stream, fixed data):
 * - the memory the store reports after every read (`stats().memoryBytes`, and its peak), and the memory it holds
 *   measured from outside after the run (heap + buffers after a full GC, `heldAfter` in shared/lab/memory.ts);
 * - reads answered from memory (`stats().hot`) once the tiers are warm, against what a least-recently-used memory
 *   tier of the same budget answers under this very stream (Che's approximation, `lruHitRate` in workload.ts,
 *   computed from the Zipf exponent, the seed and the texts' costs);
 * - reads that reached the cold file, counted by the cold file itself;
 * - with many reads in flight, whether each read gets its own bytes: the file reads of a burst are all completed
 *   (their buffers filled) before any of them is handed back, as a disk answering a burst would, so a buffer shared
 *   by reads in flight shows every time, not by the luck of timing.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { implementations } from '../../shared/lab/checkpoint.ts';
import { heldAfter } from '../../shared/lab/memory.ts';
import type { BlockFile } from '../../shared/store/block-file.ts';
import { textCost } from '../../shared/store/lru.ts';
import { budgets, coldStore, loadTexts, storeDir, ZIPF_S } from './data.ts';
import type { ChunkStore, ColdStore, TierOptions } from './types.ts';
import { lruHitRate, zipfStream } from './workload.ts';

interface Mod {
  openStore(cold: ColdStore, opts: TierOptions): Promise<ChunkStore>;
}

const READS = 6_000;
/** Reads that warm the tiers up before the share answered from memory is counted. */
const WARM_UP = 2_000;
/** before.ts holds nothing: a short stream checks what it returns. */
const BEFORE_READS = 1_000;
const SEED = 7;
/** The memory tier must answer at least this share of what an LRU of the same budget answers (Che's estimate). */
const OF_LRU = 0.9;
const COLD_BOUND = 0.35;
/** Bookkeeping a store may hold besides the texts, measured from outside: per text in the corpus, and in all. */
const PER_TEXT_ALLOWANCE = 160;
const FIXED_ALLOWANCE = 512 * 1024;

const texts = await loadTexts({ brownDocs: 150, chunks: 1_900 });
const { memoryBytes, diskBytes } = budgets(texts);
const disk = await coldStore(texts, { blockBytes: 8 * 1024 });
afterAll(() => disk.dispose());
const stream = zipfStream(texts.length, READS, ZIPF_S, SEED);
const lruShare = lruHitRate(texts.map(textCost), memoryBytes, ZIPF_S, SEED);
const HOT_FLOOR = OF_LRU * lruShare;

/** The cold file, every read counted here, not by the store. */
function countingCold(file: BlockFile): ColdStore & { reads: number } {
  return {
    size: file.size,
    reads: 0,
    read(i: number) {
      this.reads++;
      return file.read(i);
    },
  };
}

function options(name: string, overrides: Partial<TierOptions> = {}): TierOptions {
  return { memoryBytes, diskBytes, dir: storeDir(disk.dir, name), ...overrides };
}

/** Bytes of the files under `dir`. */
function filesUnder(dir: string): number {
  return readdirSync(dir).reduce((s, f) => s + statSync(join(dir, f)).size, 0);
}

interface Run {
  store: ChunkStore;
  cold: ColdStore & { reads: number };
  opts: TierOptions;
  reads: number;
  /** Reads answered from memory after the warm-up. */
  hotAfterWarmUp: number;
  wrong: Array<{ at: number; id: number }>;
  overCap: Array<{ at: number; bytes: number }>;
  mostDisk: number;
}

/** Opens a store and reads the Zipf stream through it, one read at a time, checking every answer and the memory. */
async function zipfRun(impl: Mod, name: string, reads: number): Promise<Run> {
  const cold = countingCold(disk.cold);
  const opts = options(name);
  const store = await impl.openStore(cold, opts);
  const wrong: Run['wrong'] = [];
  const overCap: Run['overCap'] = [];
  let mostDisk = 0;
  let hotAtWarmUp = 0;
  for (let r = 0; r < reads; r++) {
    if (r === WARM_UP) hotAtWarmUp = store.stats().hot;
    const id = stream[r];
    const text = await store.get(id);
    if (text !== texts[id] && wrong.length < 5) wrong.push({ at: r, id });
    const s = store.stats();
    if (s.memoryBytes > opts.memoryBytes && overCap.length < 5) overCap.push({ at: r, bytes: s.memoryBytes });
    mostDisk = Math.max(mostDisk, s.diskBytes);
  }
  return { store, cold, opts, reads, hotAfterWarmUp: store.stats().hot - hotAtWarmUp, wrong, overCap, mostDisk };
}

type FileRead = (buffer: Uint8Array, offset: number, length: number, position: number | null) => Promise<{ bytesRead: number; buffer: Uint8Array }>;

/**
 * Runs `fn` with every positioned file read (`FileHandle.read(buffer, offset, length, position)`) answered in
 * bursts: the reads issued in one turn of the event loop are all performed, their bytes copied into their buffers, and
 * only then are they all resolved. A read's buffer is the reader's until its read resolves; a store that hands the
 * same buffer to several reads in flight gets the last copy's bytes for all of them.
 */
async function burstReads<T>(fn: () => Promise<T>): Promise<T> {
  const probe = await open(join(disk.dir, 'cold.blocks'), 'r');
  const proto = Object.getPrototypeOf(probe) as { read: FileRead };
  await probe.close();
  const original = proto.read;
  let burst: Array<{ done: Promise<{ bytesRead: number }>; scratch: Buffer; buffer: Uint8Array; offset: number; settle: (err?: unknown, bytesRead?: number) => void }> = [];
  const flush = async () => {
    const mine = burst;
    burst = [];
    const results = await Promise.allSettled(mine.map((r) => r.done));
    results.forEach((res, k) => {
      if (res.status === 'fulfilled') mine[k].buffer.set(mine[k].scratch.subarray(0, res.value.bytesRead), mine[k].offset);
    });
    results.forEach((res, k) => (res.status === 'fulfilled' ? mine[k].settle(undefined, res.value.bytesRead) : mine[k].settle(res.reason)));
  };
  proto.read = function (this: unknown, buffer: Uint8Array, offset: number, length: number, position: number | null) {
    if (!(buffer instanceof Uint8Array) || typeof length !== 'number') return original.apply(this, [buffer, offset, length, position]);
    const scratch = Buffer.alloc(length);
    const done = original.call(this, scratch, 0, length, position);
    return new Promise((resolve, reject) => {
      if (burst.length === 0) setImmediate(() => void flush());
      burst.push({ done, scratch, buffer, offset: offset ?? 0, settle: (err, bytesRead) => (err ? reject(err) : resolve({ bytesRead: bytesRead!, buffer })) });
    });
  } as FileRead;
  try {
    return await fn();
  } finally {
    proto.read = original;
  }
}

describe.each(await implementations<Mod>(import.meta.url))('%s', (name, impl) => {
  let run: Run;
  let held: number;
  it('returns every text exactly as stored, read after read in a Zipf order', async () => {
    // warm-up: the code of the store's first reads (and what V8 allocates for it) is not the store's memory
    const warm = await impl.openStore(countingCold(disk.cold), options(`${name}-warm-up`));
    for (let r = 0; r < 300; r++) await warm.get(stream[r]);
    await warm.close();
    const h = await heldAfter(() => zipfRun(impl, name, name === 'before' ? BEFORE_READS : READS));
    run = h.value;
    held = h.bytes;
    expect(run.wrong, `reads that returned a text other than the stored one (first ${run.wrong.length}): ${JSON.stringify(run.wrong)}`).toEqual([]);
  });

  it('returns every text exactly as stored with 64 reads in flight', async () => {
    // a store with a memory budget too small to hold them: the reads go to local disk and the cold file
    const cold = countingCold(disk.cold);
    const store = await impl.openStore(cold, options(`${name}-concurrent`, { memoryBytes: 8 * 1024 }));
    try {
      const ids = Array.from({ length: 256 }, (_, i) => (i * 7) % texts.length);
      for (const id of ids) await store.get(id); // now on local disk, if the store keeps a copy there
      for (let round = 0; round < 3; round++) {
        const batch = ids.slice(round * 64, round * 64 + 64);
        const got = await burstReads(() => Promise.all(batch.map((id) => store.get(id))));
        const bad = batch.filter((id, j) => got[j] !== texts[id]);
        expect(
          bad,
          `${bad.length} of ${batch.length} concurrent reads returned the wrong bytes (chunks ${bad.slice(0, 5).join(', ')}…): a ` +
            `read buffer shared by reads in flight is overwritten by the next read before the first is decoded`,
        ).toEqual([]);
      }
      await expect(store.get(texts.length)).rejects.toThrow();
    } finally {
      await store.close();
    }
  });

  describe.skipIf(name === 'before')('under the budgets', () => {
    it(`holds at most ${(memoryBytes / 1024).toFixed(0)} KiB of text in memory at every moment`, () => {
      expect(
        run.overCap,
        `held ${run.overCap[0]?.bytes} bytes of text in memory after read ${run.overCap[0]?.at}, over the cap of ` +
          `${memoryBytes} bytes: the memory tier must be bounded in bytes and evict before it inserts`,
      ).toEqual([]);
      const peak = run.store.stats().peakMemoryBytes;
      expect(peak, `held ${peak} bytes of text in memory at its peak, over the cap of ${memoryBytes} bytes: evict before inserting`).toBeLessThanOrEqual(memoryBytes);
      const bound = memoryBytes + PER_TEXT_ALLOWANCE * texts.length + FIXED_ALLOWANCE;
      expect(
        held,
        `held ${held} bytes in memory measured from outside after ${run.reads} reads, over the cap of ${memoryBytes} bytes ` +
          `(plus ${bound - memoryBytes} for bookkeeping): what the store holds is not what it counts`,
      ).toBeLessThanOrEqual(bound);
    });

    it(`answers at least ${(100 * HOT_FLOOR).toFixed(1)}% of the reads from memory once warm (${OF_LRU} × an LRU's ${(100 * lruShare).toFixed(1)}%)`, () => {
      const s = run.store.stats();
      const counted = READS - WARM_UP;
      const share = run.hotAfterWarmUp / counted;
      expect(
        share,
        `${(100 * share).toFixed(1)}% of ${counted} reads (after ${WARM_UP} to warm up) answered from memory (hot tier), ` +
          `floor ${(100 * HOT_FLOOR).toFixed(1)}% (${OF_LRU} × the ${(100 * lruShare).toFixed(1)}% a least-recently-used ` +
          `tier of this budget answers under this Zipf load): the popular chunks must stay in memory: when it is full, ` +
          `evict what was used least recently, not everything, and bring a chunk read from disk back into memory`,
      ).toBeGreaterThanOrEqual(HOT_FLOOR);
      expect(s.hot + s.warm + s.cold, 'every read counted once in stats()').toBe(READS);
    });

    it(`sends at most ${COLD_BOUND * 100}% of the reads to the cold file`, () => {
      const share = run.cold.reads / READS;
      expect(
        share,
        `${(100 * share).toFixed(1)}% of ${READS} reads went to the cold file (a block read and a decompression each), ` +
          `bound ${COLD_BOUND * 100}%: chunks evicted from memory are read again soon; keep them on local disk, within ` +
          `its budget, where one read by offset returns them`,
      ).toBeLessThanOrEqual(COLD_BOUND);
    });

    it('keeps its files under its directory, within the disk budget, and removes them on close', async () => {
      expect(run.mostDisk, `stats().diskBytes reached ${run.mostDisk}, over the disk budget of ${diskBytes}`).toBeLessThanOrEqual(diskBytes);
      const onDisk = filesUnder(run.opts.dir);
      expect(onDisk, `${onDisk} bytes of files under the store's directory, disk budget ${diskBytes}`).toBeLessThanOrEqual(diskBytes + 64 * 1024);
      await run.store.close();
      const left = readdirSync(run.opts.dir).filter((f) => existsSync(join(run.opts.dir, f)));
      expect(left, 'files left behind after close').toEqual([]);
    });
  });

  it.runIf(name === 'before')('closes', async () => {
    await run.store.close();
  });
});
