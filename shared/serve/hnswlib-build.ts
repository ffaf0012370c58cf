/**
 * The saved index `npm run index` writes, with its int8 HNSW graph built by hnswlib (native C++) instead of by the
 * engine's own insertion in JavaScript.
 *
 * Three steps, each with public APIs only:
 *   1. build and save the engine as `buildIndex` does, but with the exact (flat) vector index, which costs nothing to
 *      insert into (the chunks, BM25, sentences and documents are the same as the engine path's);
 *   2. read the saved float32 vectors back and insert them, in label order, into an hnswlib graph (inner product over
 *      normalised vectors, the same M and efConstruction as the engine's graph), written to a scratch file;
 *   3. take that graph over with `CompactHnswIndex.fromHnswlib` (same nodes, links and entry point, vectors quantised
 *      to int8), save it as the index's vectors.bin, rewrite the manifest (vector index kind, file size and CRC-32) and
 *      rename the folder into place.
 *
 * The result has the same format and structures as the engine path's (`loadEngine` cannot tell them apart); the
 * graph is not the same bytes (a different insertion), and of equal quality: recall@10 against exact float32 search,
 * `npm run bench:engine -- --index <dir>`, is measured in shared/index/README.md ("Building a large index").
 */
import { existsSync } from 'node:fs';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import hnswlib from 'hnswlib-node';
import { buildIndex, type BuildIndexOptions, type BuildIndexResult } from './build-index.ts';
import { RagError } from '../errors.ts';
import { fileChecksum, fsyncDir, fsyncFile } from '../util/durable-fs.ts';
import { FlatIndex } from '../index/flat.ts';
import { CompactHnswIndex } from '../index/hnsw-i8.ts';
import { calibrateEfSearch, type EfCalibration } from '../index/calibrate.ts';

/** How `npm run index` builds the int8 HNSW graph: the engine's insertion (JS) or hnswlib's (native). */
export type GraphBuilder = 'engine' | 'hnswlib';

/** Above this many chunks `npm run index` builds with hnswlib unless told otherwise (`--graph`). */
export const HNSWLIB_FROM_CHUNKS = 20_000;

export interface GraphOptions {
  dim: number;
  /** Graph degree. Default 16 (the engine's). */
  M?: number;
  /** Build-time beam width. Default 200 (the engine's). */
  efConstruction?: number;
  /** Search beam width stored with the index. Default: CompactHnswIndex's (160). */
  efSearch?: number;
  /** hnswlib's level generator seed. Default 100. */
  seed?: number;
  /** Scratch file for hnswlib's graph (removed afterwards). */
  scratch: string;
  log?: (msg: string) => void;
}

/** "1h 02m", "3m 20s", "12s". */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  if (s >= 3600) return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  if (s >= 60) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
  return `${s}s`;
}

/**
 * An int8 HNSW index over `count` vectors, inserted in the order given (`at(i)` → label and normalised float32
 * vector), the graph built by hnswlib. Progress (with an ETA) every ~5 s on `log`.
 */
export async function compactGraphWithHnswlib(
  count: number,
  at: (i: number) => { label: number; vector: Float32Array },
  opts: GraphOptions,
): Promise<CompactHnswIndex> {
  const log = opts.log ?? (() => {});
  const M = opts.M ?? 16;
  const efConstruction = opts.efConstruction ?? 200;
  const graph = new hnswlib.HierarchicalNSW('ip', opts.dim);
  graph.initIndex({ maxElements: Math.max(1, count), m: M, efConstruction, randomSeed: opts.seed ?? 100, allowReplaceDeleted: false });
  const row = new Array<number>(opts.dim).fill(0);
  const t0 = performance.now();
  let lastLog = t0;
  let lastDone = 0;
  for (let i = 0; i < count; i++) {
    const { label, vector } = at(i);
    if (vector.length !== opts.dim) throw new RagError('INVALID_INPUT', `vector ${i} (label ${label}) has dim ${vector.length}, expected ${opts.dim}`);
    for (let j = 0; j < opts.dim; j++) row[j] = vector[j];
    graph.addPoint(row, label);
    if ((i & 1023) === 1023 && performance.now() - lastLog > 5000) {
      // the ETA from the latest interval's rate: insertion slows as the graph grows
      const now = performance.now();
      const rate = (i + 1 - lastDone) / ((now - lastLog) / 1000);
      [lastLog, lastDone] = [now, i + 1];
      log(`  graph: ${i + 1}/${count} vectors (${rate.toFixed(0)}/s, ETA ${formatDuration((count - i - 1) / rate)}, elapsed ${formatDuration((now - t0) / 1000)})`);
      await new Promise((r) => setImmediate(r)); // let the log line out
    }
  }
  log(`  graph: ${count} vectors inserted in ${formatDuration((performance.now() - t0) / 1000)}; converting to int8`);
  try {
    await graph.writeIndex(opts.scratch);
    return await CompactHnswIndex.fromHnswlib(opts.scratch, { dim: opts.dim, M, efConstruction, efSearch: opts.efSearch, seed: opts.seed });
  } finally {
    await rm(opts.scratch, { force: true });
  }
}

/**
 * Replaces the flat vector index of the saved engine `dir` (built with `vector: { kind: 'flat' }`) with an int8 HNSW
 * graph built by hnswlib, in place: vectors.bin and the manifest (kind, size, CRC-32). Not atomic: use on a folder
 * no one else reads yet (`buildIndexWithHnswlib` does it in a staging folder).
 */
export interface ConvertOptions {
  log?: (msg: string) => void;
  /**
   * Sample query vectors: with them the search beam saved with the index is calibrated (the smallest beam whose
   * recall@10 against exact float32 search over the same vectors reaches `recallTarget`; shared/index/calibrate.ts).
   * Without them the configured efSearch (default 160) is kept.
   */
  probes?: readonly Float32Array[];
  /** Default 0.95. */
  recallTarget?: number;
}

export async function convertFlatToCompact(dir: string, opts: ConvertOptions = {}): Promise<EfCalibration | undefined> {
  const log = opts.log ?? (() => {});
  const manifestFile = join(dir, 'manifest.json');
  const manifest = JSON.parse(await readFile(manifestFile, 'utf8'));
  if (manifest.vectorIndex !== 'flat') throw new RagError('INVALID_INPUT', `${dir}: its vector index is ${manifest.vectorIndex}, not flat`);
  const dim: number = manifest.embedder?.dim;
  if (!Number.isInteger(dim) || dim <= 0) throw new RagError('CORRUPT', `${manifestFile}: no embedder dim`);
  const vcfg = { ...(manifest.config?.vector ?? {}) };
  delete vcfg.kind;
  const flat = new FlatIndex({ dim });
  await flat.load(join(dir, 'vectors.bin'));
  // labels in ascending order: the order ingest inserted them in
  const labels: number[] = [];
  for (let l = 0; l < (manifest.state?.nextLabel ?? 0); l++) if (flat.vector(l)) labels.push(l);
  if (labels.length !== flat.size) throw new RagError('CORRUPT', `${dir}: ${flat.size} vectors, ${labels.length} of them under labels below nextLabel`);
  const compact = await compactGraphWithHnswlib(labels.length, (i) => ({ label: labels[i], vector: flat.vector(labels[i])! }), {
    dim,
    M: vcfg.M,
    efConstruction: vcfg.efConstruction,
    efSearch: vcfg.efSearch,
    scratch: join(dir, 'vectors.hnswlib.tmp'),
    log,
  });
  let calibration: EfCalibration | undefined;
  if (opts.probes && opts.probes.length > 0 && vcfg.efSearch === undefined) {
    const target = opts.recallTarget ?? 0.95;
    log(`calibrating the search beam: recall@10 against exact float32 search for ${opts.probes.length} sample queries, target ${target}`);
    calibration = calibrateEfSearch(compact, flat, opts.probes, { target, log });
    compact.setEfSearch(calibration.ef);
    log(
      calibration.reached
        ? `efSearch ${calibration.ef} saved with the index (recall@10 ${calibration.recall.toFixed(4)})`
        : `warning: no beam up to ${calibration.ef} reached recall@10 ${target} (best ${calibration.recall.toFixed(4)}); efSearch ${calibration.ef} saved`,
    );
  }
  const tmp = join(dir, 'vectors.bin.tmp');
  await compact.save(tmp);
  await fsyncFile(tmp);
  await rename(tmp, join(dir, 'vectors.bin'));
  manifest.vectorIndex = compact.kind;
  manifest.stats.vectorIndex = compact.kind;
  manifest.config = { ...manifest.config, vector: vcfg };
  if (Object.keys(vcfg).length === 0) delete manifest.config.vector; // as the engine path saves it
  manifest.files['vectors.bin'] = await fileChecksum(join(dir, 'vectors.bin'));
  if (calibration) {
    const { ef, recall, reached, target, k, queries } = calibration;
    manifest.vectorCalibration = { efSearch: ef, recall, reached, target, k, queries, tried: calibration.tried };
  }
  await writeFile(manifestFile, JSON.stringify(manifest, null, 1));
  await fsyncFile(manifestFile);
  await fsyncDir(dir);
  return calibration;
}

/**
 * `buildIndex`, with the int8 HNSW graph built by hnswlib (see the file comment). `opts.engine.vector` may set M,
 * efConstruction and efSearch; its kind must be unset or 'hnsw-i8'. Unless efSearch is set, or `recallTarget` is 0, the
 * saved beam is calibrated to reach `recallTarget` (default 0.95) on 200 known-item queries from the base documents.
 * `out` is replaced atomically when done.
 */
export async function buildIndexWithHnswlib(
  opts: BuildIndexOptions & { recallTarget?: number },
): Promise<BuildIndexResult & { calibration?: EfCalibration }> {
  const log = opts.log ?? (() => {});
  const t0 = performance.now();
  const vector = opts.engine?.vector ?? {};
  if (vector.kind !== undefined && vector.kind !== 'hnsw-i8') {
    throw new RagError('INVALID_INPUT', `the hnswlib graph builder makes an hnsw-i8 index, not ${vector.kind}`);
  }
  const out = resolve(opts.out);
  const staging = join(dirname(out), `.${out.split('/').pop()}.building-${process.pid}`);
  try {
    log('step 1/2: chunks, BM25 and embeddings (exact vector index, no graph yet)');
    const probeQueries = opts.recallTarget === 0 ? undefined : (opts.probeQueries ?? 200);
    const { probes, ...r } = await buildIndex({ ...opts, probeQueries, out: staging, engine: { ...opts.engine, vector: { ...vector, kind: 'flat' } }, log });
    log(`step 1/2 done in ${formatDuration((performance.now() - t0) / 1000)}; step 2/2: the HNSW graph (hnswlib)`);
    const calibration = await convertFlatToCompact(staging, { log, probes, recallTarget: opts.recallTarget });
    const old = `${staging}.old`;
    if (existsSync(out)) await rename(out, old);
    await rename(staging, out);
    await fsyncDir(dirname(out));
    await rm(old, { recursive: true, force: true });
    return { ...r, dir: opts.out, seconds: (performance.now() - t0) / 1000, calibration };
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}
