/**
 * Saved index files loaded through a copy-on-write mapping (index/mmap.ts) behave exactly as when read into memory:
 * the same search results, the same results after writes (adds, removals, relinking), the same bytes when saved
 * again, and the file on disk untouched by writes made through the mapping.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadBrown } from '../corpus/brown.ts';
import { openGloveLookup } from '../embed/glove-cache.ts';
import { createEngine, loadEngine } from '../engine.ts';
import { REPO_ROOT } from '../util/paths.ts';
import { mulberry32 } from '../util/random.ts';
import { CompactHnswIndex } from './hnsw-i8.ts';
import { isMapped, loadIndexFile, mmapAvailable, setFileLoading } from './mmap.ts';

let root: string;
const sha = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'rag-mmap-'));
});
afterAll(async () => {
  if (root) await rm(root, { recursive: true, force: true });
});
afterEach(() => {
  setFileLoading(undefined);
});

function randomVectors(n: number, dim: number, seed: number): Float32Array[] {
  const r = mulberry32(seed);
  return Array.from({ length: n }, () => Float32Array.from({ length: dim }, () => r() * 2 - 1));
}

async function loadAs(mode: 'mmap' | 'read', file: string, dim: number): Promise<CompactHnswIndex> {
  const prev = setFileLoading(mode);
  try {
    const index = new CompactHnswIndex({ dim });
    await index.load(file);
    return index;
  } finally {
    setFileLoading(prev);
  }
}

describe('loadIndexFile', () => {
  it("returns the file's bytes either way; only a mapping is marked mapped", async () => {
    const file = join(root, 'bytes.bin');
    const index = new CompactHnswIndex({ dim: 8 });
    index.add([0, 1, 2], randomVectors(3, 8, 1));
    await index.save(file);
    setFileLoading('read');
    const read = await loadIndexFile(file);
    expect(isMapped(read)).toBe(false);
    expect(mmapAvailable()).toBe(false);
    setFileLoading('auto');
    const auto = await loadIndexFile(file);
    expect(Buffer.compare(auto, read)).toBe(0);
    expect(isMapped(auto)).toBe(mmapAvailable());
    await expect(loadIndexFile(join(root, 'missing.bin'))).rejects.toMatchObject({ code: 'ENOENT' });
  });
});

describe('without the addon', () => {
  it('reads the files instead, says why once on stderr, and the index answers the same', async () => {
    const file = join(root, 'fallback.bin');
    const index = new CompactHnswIndex({ dim: 8 });
    const vs = randomVectors(50, 8, 3);
    index.add(vs.map((_, i) => i), vs);
    await index.save(file);
    const script = [
      `import { CompactHnswIndex } from './shared/index/hnsw-i8.ts';`,
      `import { loadIndexFile, mmapAvailable } from './shared/index/mmap.ts';`,
      `await loadIndexFile(${JSON.stringify(file)});`,
      `const ix = new CompactHnswIndex({ dim: 8 });`,
      `await ix.load(${JSON.stringify(file)});`,
      `console.log(JSON.stringify({ available: mmapAvailable(), mapped: ix.mapped, hits: ix.search(new Float32Array(8).fill(0.5), 5) }));`,
    ].join('\n');
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: REPO_ROOT,
      env: { ...process.env, RAG_MMAP: '', RAG_MMAP_ADDON: 'no-such-mmap-addon-for-tests' },
      encoding: 'utf8',
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr.match(/optional mmap addon/g)).toHaveLength(1);
    const out = JSON.parse(r.stdout.trim());
    expect(out).toMatchObject({ available: false, mapped: false });
    expect(out.hits).toEqual(JSON.parse(JSON.stringify(index.search(new Float32Array(8).fill(0.5), 5))));
  }, 60_000);
});

describe.skipIf(!mmapAvailable())('a mapped CompactHnswIndex', () => {
  const dim = 24;
  const base = randomVectors(600, dim, 7);
  const extra = randomVectors(150, dim, 8);
  const queries = randomVectors(40, dim, 9);

  it('answers as the index read into memory, before and after writes, and never writes the file', async () => {
    const file = join(root, 'vectors.bin');
    const built = new CompactHnswIndex({ dim, efConstruction: 64, efSearch: 48 });
    built.add(base.map((_, i) => i), base);
    built.remove([3, 30, 300]);
    await built.save(file);
    const before = sha(file);

    const mapped = await loadAs('mmap', file, dim);
    const read = await loadAs('read', file, dim);
    expect(mapped.mapped).toBe(true);
    expect(read.mapped).toBe(false);
    expect(mapped.memory()[0].how).toMatch(/mapped file/);
    const all = (ix: CompactHnswIndex) => queries.map((q) => ix.search(q, 10));
    expect(all(mapped)).toEqual(all(read));
    expect(all(mapped)).toEqual(all(built));
    expect(mapped.searchAmong(queries[0], [5, 1, 99, 3], 3)).toEqual(read.searchAmong(queries[0], [5, 1, 99, 3], 3));

    // removals write into the loaded flags (the mapping's pages, copied on write), adds relink old nodes
    for (const ix of [mapped, read]) {
      ix.remove([10, 11, 12]);
      ix.add(extra.map((_, i) => 600 + i), extra);
      ix.add([20], [extra[0]]); // a label already present: its old node is retired
      ix.stage([900], [extra[1]]);
      ix.reveal([900]);
    }
    expect(mapped.size).toBe(read.size);
    expect(all(mapped)).toEqual(all(read));
    expect(sha(file)).toBe(before);

    // saved again: the same bytes
    await mapped.save(join(root, 'again-mapped.bin'));
    await read.save(join(root, 'again-read.bin'));
    expect(sha(join(root, 'again-mapped.bin'))).toBe(sha(join(root, 'again-read.bin')));
    expect(sha(file)).toBe(before);
  });

  it('a removal alone (no insert to copy the arrays first) leaves the file as it was', async () => {
    const file = join(root, 'vectors-rm.bin');
    const built = new CompactHnswIndex({ dim, efConstruction: 32 });
    built.add(base.slice(0, 200).map((_, i) => i), base.slice(0, 200));
    await built.save(file);
    const before = sha(file);
    const mapped = await loadAs('mmap', file, dim);
    mapped.remove([0, 1, 2, 50]);
    expect(mapped.has(1)).toBe(false);
    expect(mapped.search(base[1], 5).some((h) => h.label === 1)).toBe(false);
    expect(sha(file)).toBe(before);
    // another process (here: another load) sees the file, not this one's private pages
    const other = await loadAs('mmap', file, dim);
    expect(other.has(1)).toBe(true);
  });
});

describe.skipIf(!mmapAvailable())('a mapped engine (BM25 postings, vectors, GloVe rows)', () => {
  it('gives the same hits, answers and write results as one read into memory', async () => {
    const docs = await loadBrown({ limit: 12 });
    const e = await createEngine({ llm: null });
    await e.ingest(docs.slice(0, 10));
    const dir = join(root, 'engine');
    await e.save(dir);
    const sums = Object.fromEntries(['bm25.bin', 'vectors.bin'].map((f) => [f, sha(join(dir, f))]));

    setFileLoading('mmap');
    const mapped = await loadEngine(dir, { llm: null });
    setFileLoading('read');
    const read = await loadEngine(dir, { llm: null });
    setFileLoading(undefined);
    const how = (en: typeof mapped) => en.memory().parts.map((p) => p.how).join('\n');
    expect(how(mapped)).toMatch(/postings.*mapped/);
    expect(how(read)).not.toMatch(/postings.*mapped/);

    const queries = ['jury investigation of the election', 'the city council voted', 'a new bill in the legislature', 'baseball season'];
    const run = async (en: typeof mapped) => {
      const out = [];
      for (const q of queries) {
        for (const mode of ['hybrid', 'bm25', 'dense'] as const) {
          const r = await en.query(q, { k: 8, mode });
          out.push({ hits: r.hits, answer: r.answer });
        }
        out.push((await en.query(q, { k: 5, filter: { genre: 'news' } })).hits);
      }
      return out;
    };
    expect(await run(mapped)).toEqual(await run(read));
    for (const en of [mapped, read]) {
      en.remove([docs[0].id, docs[4].id]);
      await en.ingest(docs.slice(10, 12));
    }
    expect(mapped.stats()).toEqual(read.stats());
    expect(await run(mapped)).toEqual(await run(read));
    for (const [f, sum] of Object.entries(sums)) expect(sha(join(dir, f)), f).toBe(sum);
  }, 120_000);

  it('GloVe rows from the mapped cache file equal the rows read by offset', async () => {
    setFileLoading('read');
    const read = await openGloveLookup({ hot: 1000 });
    setFileLoading('mmap');
    const mapped = await openGloveLookup({ hot: 1001 });
    expect(mapped.memory()[0].part).toMatch(/mapped/);
    expect(read.memory()[0].part).not.toMatch(/mapped/);
    const words = ['the', 'jury', 'election', 'legislature', 'zygote', 'quasar', 'xylophone', 'notaword-xyz'];
    for (const w of words) {
      const r = read.rank(w);
      expect(mapped.rank(w)).toBe(r);
      if (r < 0) continue;
      const a = new Float32Array(read.dim);
      const b = new Float32Array(read.dim);
      read.addScaled(r, 0.5, a);
      mapped.addScaled(r, 0.5, b);
      expect(b).toEqual(a);
    }
    // ranks far past the in-memory rows of the read lookup (read by offset there)
    for (const r of [5000, 100_000, read.count - 1]) {
      const a = new Float32Array(read.dim);
      const b = new Float32Array(read.dim);
      read.addScaled(r, 1, a);
      mapped.addScaled(r, 1, b);
      expect(b).toEqual(a);
    }
  });
});
