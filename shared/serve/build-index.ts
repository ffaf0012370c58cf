/**
 * Builds and saves an engine index from a named corpus, optionally grown to `scale` chunks with the deterministic
 * generator (a bigram model trained on the base corpus, shared/corpus/generate.ts). Used by `npm run index`,
 * by `npm run serve` without --index, and by the load-test comparison.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createEngine, loadEngine, type Engine, type EngineConfig } from '../engine.ts';
import { loadBeir } from '../corpus/beir.ts';
import { loadBrown } from '../corpus/brown.ts';
import { loadFolder } from '../corpus/folder.ts';
import { growEngine } from '../corpus/grow.ts';
import { knownItemQueries } from '../eval/known-item.ts';
import type { Doc } from '../types.ts';

export interface BuildIndexOptions {
  /** A BEIR-layout dataset directory (corpus.jsonl, …). */
  dataset?: string;
  /** A folder of .txt / .md / .jsonl files. */
  corpus?: string;
  /** Without dataset or corpus: the Brown corpus (500 documents), the project's default. */
  /** Grow the corpus with generated documents until it has about this many chunks. Default: no growth. */
  scale?: number;
  /** Generator seed. Default 42. */
  seed?: number;
  /** Where to save. */
  out: string;
  /** Documents per ingest batch. Default 2,000. */
  batch?: number;
  engine?: EngineConfig;
  /**
   * Also embed this many known-item queries drawn from the base documents (seed 7) with the built engine's embedder
   * and return them as `probes`: sample queries for calibrating the vector index (shared/index/calibrate.ts).
   */
  probeQueries?: number;
  log?: (msg: string) => void;
}

export interface BuildIndexResult {
  dir: string;
  documents: number;
  chunks: number;
  seconds: number;
  /** With `probeQueries`: the sample query vectors. */
  probes?: Float32Array[];
}

export async function loadBaseDocs(opts: Pick<BuildIndexOptions, 'dataset' | 'corpus'>): Promise<{ name: string; docs: Doc[] }> {
  if (opts.dataset) return { name: `dataset ${opts.dataset}`, docs: (await loadBeir(opts.dataset)).docs };
  if (opts.corpus) return { name: `corpus ${opts.corpus}`, docs: await loadFolder(opts.corpus) };
  return { name: 'Brown corpus', docs: await loadBrown() };
}

export async function buildIndex(opts: BuildIndexOptions): Promise<BuildIndexResult> {
  const log = opts.log ?? (() => {});
  const t0 = performance.now();
  const { name, docs } = await loadBaseDocs(opts);
  const engine = await createEngine({ llm: null, ...opts.engine, log });
  log(`ingesting ${docs.length} documents of the ${name}`);
  await engine.ingest(docs);
  if (opts.scale !== undefined) await growEngine(engine, docs, opts.scale, { seed: opts.seed, batch: opts.batch, log });
  const chunks = engine.stats().chunks;
  log(`saving ${chunks} chunks to ${opts.out}`);
  await engine.save(opts.out);
  const s = engine.stats();
  const probes = opts.probeQueries ? await engine.embedder.embed(knownItemQueries(docs, { count: opts.probeQueries, seed: 7 }).queries.map((q) => q.text)) : undefined;
  return { dir: opts.out, documents: s.documents, chunks: s.chunks, seconds: (performance.now() - t0) / 1000, probes };
}

/** True when `dir` holds a saved engine. */
export function hasIndex(dir: string): boolean {
  return existsSync(join(dir, 'manifest.json'));
}

/** The saved index `dir`, built first (from `build`) when it is missing. */
export async function ensureIndex(dir: string, build: Omit<BuildIndexOptions, 'out'>): Promise<string> {
  if (!hasIndex(dir)) await buildIndex({ ...build, out: dir });
  return dir;
}

/** Loads a saved engine for serving (no LLM unless LLM_BASE_URL is set). */
export async function loadForServing(dir: string, config: EngineConfig = {}): Promise<Engine> {
  return loadEngine(dir, config);
}
