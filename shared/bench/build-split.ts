/**
 * node --import tsx shared/bench/build-split.ts --scale 1000000 --out <dir> [--seed 42]
 *
 * The index `npm run index -- --scale N --out <dir>` builds, byte for byte the same files, built by two processes at
 * once: on a machine whose cores are shared with other work, one process gets a fixed share of a core, and most of a
 * build's time is its single thread inserting into the HNSW graph. Here:
 *
 *   - process A builds the engine as `npm run index` does (buildIndex), with an exact (flat) vector index, which costs
 *     nothing to insert into;
 *   - process B walks the same chunks in the same order (Brown, then the generator's rounds and ids as growEngine
 *     hands them out, each chunked as ingest chunks it), embeds them with the embedder fitted on the same first batch,
 *     and inserts them into the int8 HNSW index in label order: the graph ingest would have built (same labels, same
 *     seed, same insertion order). With --graph hnswlib it builds the graph with hnswlib instead (native insertion,
 *     about twice as fast on this machine) and takes it over with `CompactHnswIndex.fromHnswlib`.
 *
 * Then B's vectors.bin replaces A's and the manifest is rewritten to name it (vector index kind, file size and
 * CRC-32), and the result is checked: it loads, the graph holds one node per chunk, and sampled chunks find their own
 * vector. For the contended lab machine only; `npm run index` is the tool: for large builds (--scale 20000 and up,
 * or `--graph hnswlib`) it builds the same index in one process, the graph by hnswlib after ingest
 * (shared/serve/hnswlib-build.ts). This split embeds every chunk twice, and its processes compete for the same two
 * cores: at 100k chunks it took 1,011 s, the one-process build 443 s (different hours of the same loaded machine).
 */
import { spawn } from 'node:child_process';
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { loadBrown } from '../corpus/brown.ts';
import { chunkDocument, indexText, validateDoc } from '../corpus/chunk.ts';
import { docsForChunks, generateDocs, trainTextModel } from '../corpus/generate.ts';
import { createDefaultEmbedder } from '../embed/sif.ts';
import { loadEngine } from '../engine.ts';
import { CompactHnswIndex } from '../index/hnsw-i8.ts';
import { HnswIndex } from '../index/hnsw.ts';
import { buildIndex } from '../serve/build-index.ts';
import type { Chunk, Doc } from '../types.ts';
import { fileChecksum } from '../util/durable-fs.ts';
import { fail, numberFlag, parseCli, runMain } from '../util/cli.ts';
import { REPO_ROOT } from '../util/paths.ts';

const USAGE = `Usage: node --import tsx shared/bench/build-split.ts --scale <n> --out <dir> [--seed <n>] [--graph engine|hnswlib]

Builds what npm run index -- --scale <n> --out <dir> builds, in two processes (see the file's comment).
npm run index -- --graph hnswlib (the default from --scale 20000) is the one-process way to the same index.
  --graph engine    the vectors process inserts into the int8 index as ingest does: the same files, byte for byte
  --graph hnswlib   it builds the graph with hnswlib (native, about twice as fast here) and converts it
                    (CompactHnswIndex.fromHnswlib): the same structures and sizes, a graph of equal quality, not the
                    same bytes
  --part index|vectors|finish   run one step only (finish: put --vectors <file> into --out and check)
`;

/** Process B: the chunks in label order, embedded and inserted into the int8 HNSW index, saved to `file`. */
async function buildVectors(scale: number, seed: number, file: string, graph: 'engine' | 'hnswlib', log: (m: string) => void): Promise<void> {
  const brown = await loadBrown();
  const embedder = await createDefaultEmbedder();
  const index: CompactHnswIndex | HnswIndex =
    graph === 'engine' ? new CompactHnswIndex({ dim: embedder.dim }) : new HnswIndex({ dim: embedder.dim, initialCapacity: Math.ceil(scale * 1.02) + 8192 });
  let label = 0;
  let pending: Chunk[] = [];
  const t0 = performance.now();
  const flush = async () => {
    const vectors = await embedder.embed(pending.map(indexText));
    index.add(pending.map(() => label++), vectors);
    pending = [];
  };
  const chunksOf = (docs: readonly unknown[]): Chunk[] => {
    // as ingest: validated, the last version of an id wins (in the first one's place), chunked in that order
    const byId = new Map<string, Doc>();
    docs.forEach((raw, i) => {
      const d = validateDoc(raw, i);
      byId.set(d.id, d);
    });
    const out: Chunk[] = [];
    for (const d of byId.values()) out.push(...chunkDocument(d));
    return out;
  };
  // the first batch (Brown) is what the embedder is fitted on
  const first = chunksOf(brown);
  await embedder.fit(first.map(indexText));
  for (const c of first) {
    pending.push(c);
    if (pending.length === 256) await flush();
  }
  let chunks = first.length;
  // growEngine's rounds and batches
  const model = trainTextModel(brown);
  let documents = 0;
  for (let round = 0; chunks < scale; round++) {
    const want = docsForChunks(scale - chunks, { model, seed: seed + round });
    let batch: Doc[] = [];
    const ingest = async () => {
      const cs = chunksOf(batch);
      documents += new Set(batch.map((d) => d.id)).size;
      chunks += cs.length;
      for (const c of cs) {
        pending.push(c);
        if (pending.length === 256) await flush();
      }
      batch = [];
      log(`  vectors: ${chunks} chunks (${(chunks / ((performance.now() - t0) / 1000)).toFixed(0)} chunks/s)`);
    };
    for (const doc of generateDocs({ model, seed: seed + round, docs: want, firstId: documents + 1 })) {
      batch.push(doc);
      if (batch.length === 2000) await ingest();
    }
    if (batch.length > 0) await ingest();
  }
  if (pending.length > 0) await flush();
  log(`  vectors: ${label} chunks inserted, saving ${file}`);
  if (index instanceof CompactHnswIndex) {
    await index.save(file);
    return;
  }
  // hnswlib's graph, its vectors quantised: the int8 index's file
  await index.save(`${file}.hnswlib`);
  const converted = await CompactHnswIndex.fromHnswlib(`${file}.hnswlib`, { dim: embedder.dim });
  await converted.save(file);
  rmSync(`${file}.hnswlib`, { force: true });
  rmSync(`${file}.hnswlib.json`, { force: true });
}

function child(args: string[], name: string): Promise<void> {
  return new Promise((res, rej) => {
    const p = spawn(process.execPath, ['--max-old-space-size=16000', '--import', 'tsx', join(REPO_ROOT, 'shared/bench/build-split.ts'), ...args], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    p.on('exit', (code) => (code === 0 ? res() : rej(new Error(`${name} exited with ${code}`))));
  });
}

runMain(async () => {
  const { values } = parseCli(USAGE, {
    scale: { type: 'string' },
    out: { type: 'string' },
    seed: { type: 'string' },
    part: { type: 'string' },
    graph: { type: 'string' },
    vectors: { type: 'string' },
  });
  if (!values.out) fail('--out <dir> is required');
  const out = resolve(values.out);
  const scale = numberFlag('scale', values.scale, 0, (n) => Number.isInteger(n) && n > 0);
  const seed = numberFlag('seed', values.seed, 42, Number.isInteger);
  const log = (m: string) => process.stderr.write(`${m}\n`);
  const vectorsFile = `${out}.vectors.bin`;
  if (values.part === 'index') {
    await buildIndex({ scale, seed, out, engine: { vector: { kind: 'flat' } }, log: (m) => log(`index: ${m}`) });
    return;
  }
  const graph = values.graph === 'hnswlib' ? 'hnswlib' : 'engine';
  if (values.graph !== undefined && values.graph !== 'hnswlib' && values.graph !== 'engine') fail('--graph must be engine or hnswlib');
  const file = values.vectors ? resolve(values.vectors) : vectorsFile;
  if (values.part === 'vectors') {
    await buildVectors(scale, seed, file, graph, log);
    return;
  }
  const t0 = performance.now();
  const common = ['--scale', String(scale), '--out', out, '--seed', String(seed), '--graph', graph, '--vectors', file];
  if (values.part !== 'finish') {
    await Promise.all([child([...common, '--part', 'index'], 'the index process'), child([...common, '--part', 'vectors'], 'the vectors process')]);
  }
  // B's graph in place of A's flat vectors, and the manifest naming it
  const manifestFile = join(out, 'manifest.json');
  const manifest = JSON.parse(readFileSync(manifestFile, 'utf8'));
  renameSync(file, join(out, 'vectors.bin'));
  manifest.vectorIndex = 'hnsw-i8';
  manifest.stats.vectorIndex = 'hnsw-i8';
  if (manifest.config?.vector) delete manifest.config.vector.kind;
  if (manifest.config?.vector && Object.keys(manifest.config.vector).length === 0) delete manifest.config.vector; // as npm run index saves it
  manifest.files['vectors.bin'] = await fileChecksum(join(out, 'vectors.bin'));
  writeFileSync(manifestFile, JSON.stringify(manifest, null, 1));
  log(`built in ${((performance.now() - t0) / 1000).toFixed(0)} s; checking`);
  const engine = await loadEngine(out, { llm: null });
  const vectors = engine.vectors as CompactHnswIndex;
  if (vectors.size !== engine.stats().chunks) throw new Error(`the graph holds ${vectors.size} vectors, the index ${engine.stats().chunks} chunks`);
  // sampled chunks find their own vector first (their label and the vector under it agree)
  const step = Math.max(1, Math.floor(engine.stats().chunks / 200));
  let checked = 0;
  for (let l = 0; l < engine.stats().chunks; l += step) {
    const c = engine.chunk(l);
    if (!c) continue;
    const [v] = await engine.embedder.embed([indexText(c)]);
    const [self] = vectors.searchAmong(v, [l], 1);
    if (v.some((x) => x !== 0) && !(self && self.score > 0.99)) throw new Error(`label ${l}: its stored vector does not match its chunk (cosine ${self?.score})`);
    checked++;
  }
  rmSync(`${out}.tmp`, { force: true, recursive: true });
  log(`ok: ${engine.stats().chunks} chunks, ${checked} sampled labels match their vectors`);
});
