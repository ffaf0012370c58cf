import { RagError } from '../errors.ts';
import { ByteLru, textCost } from './lru.ts';
import { RingFile, type ReadBuffers } from './ring-file.ts';

/**
 * Chunk texts in three tiers, for a corpus whose texts do not fit the memory a process may use:
 *
 * - **hot**: decoded strings in memory, least recently used evicted first, bounded in bytes (`memoryBytes`, counted
 *   by `textCost`: the string's bytes in V8 plus 64 bytes of bookkeeping) — never over the cap, not even between
 *   an insert and its evictions;
 * - **warm** (optional): a bounded file on local disk (`RingFile`), one positioned read of exactly the text's bytes;
 * - **cold**: the source of truth, any `TextSource`, typically a `BlockFile` (compressed blocks: a block read and a
 *   decompression per text).
 *
 * A read looks in each tier in turn; a warm hit is promoted to hot, a cold read goes into warm (written behind, not
 * awaited) and hot. Concurrent reads of the same missing text share one read. Under the skewed access of real
 * traffic (a few chunks are retrieved far more often than the rest), a hot tier of a few percent of the corpus
 * answers most reads; the figures are in t2_memory_storage_optimization/10-tiered-storage/README.md.
 *
 * Memory: `memoryBytes` for the hot texts (their `textCost`, which includes the LRU's own entry), plus the warm tier's
 * index (`RingFile`: typed arrays and a Map entry per text it holds), plus the source's own (a BlockFile: 4 bytes a
 * text and 12 a block).
 */

/** Where texts come from when neither memory nor the warm file holds them. */
export interface TextSource {
  readonly size: number;
  read(i: number): Promise<string>;
}

/** What the store needs of its memory tier; `ByteLru` is the engine's. */
export interface MemoryTier {
  /** The text, if held (a hit may change what is evicted next). */
  get(i: number): string | undefined;
  /** Holds `text`, costing `cost` bytes, if the tier's policy and budget allow. */
  set(i: number, text: string, cost: number): unknown;
  /** Cost of the texts held now, and the most ever held. */
  readonly bytes: number;
  readonly peakBytes: number;
}

export interface TieredOptions {
  /** Bytes of text (as `textCost` counts them) the hot tier may hold. */
  memoryBytes: number;
  /** The hot tier. Default: a `ByteLru` of `memoryBytes` (another policy must keep to the budget itself). */
  hot?: MemoryTier;
  /**
   * The warm tier: a file on local disk of at most `bytes` (`readBuffers`: see `RingFileOptions`). Left out: no
   * warm tier.
   */
  warm?: { file: string; bytes: number; readBuffers?: ReadBuffers };
}

export interface TierStats {
  /** Reads answered from each tier. */
  hot: number;
  warm: number;
  cold: number;
  /** Bytes the hot tier holds now, and the most it ever held. */
  memoryBytes: number;
  peakMemoryBytes: number;
  /** Bytes the warm file holds now. */
  diskBytes: number;
}

export class TieredTextStore {
  readonly size: number;
  private readonly cold: TextSource;
  private readonly hot: MemoryTier;
  private readonly warm: RingFile | undefined;
  private readonly inflight = new Map<number, Promise<string>>();
  private readonly counts = { hot: 0, warm: 0, cold: 0 };
  private writesFailed = 0;

  private constructor(cold: TextSource, hot: MemoryTier, warm: RingFile | undefined) {
    this.cold = cold;
    this.size = cold.size;
    this.hot = hot;
    this.warm = warm;
  }

  static async open(cold: TextSource, opts: TieredOptions): Promise<TieredTextStore> {
    const hot = opts.hot ?? new ByteLru<number, string>(opts.memoryBytes);
    const warm = opts.warm ? await RingFile.open(opts.warm.file, opts.warm.bytes, { readBuffers: opts.warm.readBuffers }) : undefined;
    return new TieredTextStore(cold, hot, warm);
  }

  /** Text `i`, from the first tier that holds it. */
  get(i: number): Promise<string> {
    if (!Number.isInteger(i) || i < 0 || i >= this.size) return Promise.reject(new RagError('INVALID_INPUT', `TieredTextStore.get: no text ${i} (size ${this.size})`));
    const hit = this.hot.get(i);
    if (hit !== undefined) {
      this.counts.hot++;
      return Promise.resolve(hit);
    }
    let p = this.inflight.get(i);
    if (p === undefined) {
      p = this.miss(i).finally(() => this.inflight.delete(i));
      this.inflight.set(i, p);
    }
    return p;
  }

  private async miss(i: number): Promise<string> {
    const fromWarm = this.warm ? await this.warm.get(i) : undefined;
    if (fromWarm !== undefined) {
      this.counts.warm++;
      this.hot.set(i, fromWarm, textCost(fromWarm));
      return fromWarm;
    }
    const text = await this.cold.read(i);
    this.counts.cold++;
    this.warm?.put(i, text).catch(() => this.writesFailed++);
    this.hot.set(i, text, textCost(text));
    return text;
  }

  stats(): TierStats {
    return {
      ...this.counts,
      memoryBytes: this.hot.bytes,
      peakMemoryBytes: this.hot.peakBytes,
      diskBytes: this.warm?.bytes ?? 0,
    };
  }

  /** Writes to the warm file that failed (the text is then read from cold again next time). */
  get failedWrites(): number {
    return this.writesFailed;
  }

  /** Waits for warm writes in flight, closes and deletes the warm file. The cold source stays open. */
  async close(): Promise<void> {
    await Promise.allSettled([...this.inflight.values()]);
    await this.warm?.close(true);
  }
}
