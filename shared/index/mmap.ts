import { closeSync, fstatSync, openSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';

/**
 * The bytes of a saved index file, memory-mapped when possible: one copy per machine instead of one per process.
 *
 * Node cannot map a file itself; the optional dependency `@raygun-nickj/mmap-io` (a small native addon, built on
 * install) can. A file mapped here is `MAP_PRIVATE` with `PROT_READ | PROT_WRITE`:
 *
 * - its pages are the kernel's page cache pages: every process that maps the same file (the cluster's workers, a
 *   restarted worker, a bench) shares them, and a page is read from disk only when first touched;
 * - a write to a page (a loaded index that takes new chunks, deletes, relinks its graph) gives this process a
 *   private copy of that page only (copy-on-write). The file is never written through the mapping, and behaviour is
 *   the same as for bytes read into memory;
 * - the typed arrays the loaders cut from it (int8 vectors, graph links, BM25 postings, GloVe rows) are views, no
 *   copy; the mapping goes when the last view is garbage (the addon unmaps in the Buffer's finaliser).
 *
 * Saves never rewrite a mapped file in place (they write a new file and rename it, `writeAtomic`), so a mapping keeps
 * the old file's pages until it is dropped.
 *
 * Without the addon (not installed, not built, not Linux/macOS), or with `RAG_MMAP=0`, files are read into memory
 * (`readFile`) as before: the same bytes, one copy per process. The reason is printed once on stderr when the addon
 * was wanted but could not be loaded.
 */

interface MmapIo {
  map(size: number, protection: number, flags: number, fd: number, offset?: number, advise?: number): Buffer;
  advise(buffer: Buffer, advise: number): void;
  PROT_READ: number;
  PROT_WRITE: number;
  MAP_PRIVATE: number;
  MADV_RANDOM: number;
  PAGESIZE: number;
}

export type FileLoading = 'auto' | 'mmap' | 'read';

let addon: MmapIo | null | undefined;
let addonError = '';
let warned = false;
let mode: FileLoading | undefined;
/** The ArrayBuffers of mapped files (to tell views over a mapping from heap copies). */
const mappedBuffers = new WeakSet<ArrayBufferLike>();
/** Largest single mapping the addon takes (its size argument is a C int). */
const MAX_MAP = 2 ** 31 - 1;

function loadAddon(): MmapIo | null {
  if (addon !== undefined) return addon;
  try {
    // RAG_MMAP_ADDON: another module name (tests: one that does not exist, to see the fallback)
    const m = createRequire(import.meta.url)(process.env.RAG_MMAP_ADDON || '@raygun-nickj/mmap-io') as MmapIo;
    if (typeof m.map !== 'function') throw new Error('the module has no map()');
    addon = m;
  } catch (err) {
    addon = null;
    addonError = (err as Error).message.split('\n')[0];
  }
  return addon;
}

function currentMode(): FileLoading {
  if (mode !== undefined) return mode;
  const env = (process.env.RAG_MMAP ?? '').toLowerCase();
  return env === '0' || env === 'off' || env === 'false' || env === 'read' ? 'read' : 'auto';
}

/**
 * How saved index files are loaded from now on, in this process: 'auto' (mapped when the addon loads, else read),
 * 'mmap' (mapped, or an error), 'read' (always read into memory). Default: 'auto', or 'read' when the environment
 * says `RAG_MMAP=0`. Returns the previous setting (tests set and restore it).
 */
export function setFileLoading(m: FileLoading | undefined): FileLoading | undefined {
  const prev = mode;
  mode = m;
  return prev;
}

/** Whether files would be mapped now (the addon loads and loading is not set to 'read'). */
export function mmapAvailable(): boolean {
  return currentMode() !== 'read' && loadAddon() !== null;
}

/** Whether `view` lies in a mapped file's memory (not a heap copy). */
export function isMapped(view: ArrayBufferView): boolean {
  return mappedBuffers.has(view.buffer);
}

/** Maps `file` (its first `length` bytes; default whole), private and copy-on-write, or undefined when it cannot be mapped here. */
function mapFile(file: string, length?: number): Buffer | undefined {
  const m = currentMode();
  if (m === 'read') return undefined;
  const io = loadAddon();
  if (io === null) {
    if (m === 'mmap') throw new Error(`cannot map ${file}: @raygun-nickj/mmap-io is not available (${addonError})`);
    if (!warned) {
      warned = true;
      process.stderr.write(
        `note: index files are read into memory in each process, not shared: the optional mmap addon ` +
          `@raygun-nickj/mmap-io did not load (${addonError}); npm install builds it (RAG_MMAP=0 silences this)\n`,
      );
    }
    return undefined;
  }
  const fd = openSync(file, 'r');
  try {
    const size = Math.min(fstatSync(fd).size, length ?? Infinity);
    if (size === 0) return Buffer.alloc(0);
    if (size > MAX_MAP) {
      if (m === 'mmap') throw new Error(`cannot map ${file}: ${size} bytes, more than ${MAX_MAP}`);
      return undefined;
    }
    // the mapping outlives the descriptor
    const buf = io.map(size, io.PROT_READ | io.PROT_WRITE, io.MAP_PRIVATE, fd, 0);
    // graph walks and posting lookups jump around the file: no read-ahead beyond the page asked for
    io.advise(buf, io.MADV_RANDOM);
    mappedBuffers.add(buf.buffer);
    return buf;
  } finally {
    closeSync(fd);
  }
}

/**
 * The whole content of `file`: a copy-on-write mapping of it when mapping is available (see the module comment),
 * else the bytes read into memory. Errors as `readFile`'s (ENOENT when missing).
 */
export async function loadIndexFile(file: string): Promise<Buffer> {
  return mapFile(file) ?? (await readFile(file));
}

/**
 * The first `length` bytes of `file` (fewer when the file is shorter), mapped as `loadIndexFile` maps, or undefined
 * when mapping is not available: the caller reads what it needs its own way.
 */
export function mapIndexFilePrefix(file: string, length: number): Buffer | undefined {
  return mapFile(file, length);
}
