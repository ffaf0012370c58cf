/**
 * The data of 10-tiered-storage: chunk texts of Brown documents (`loadBrown`, `chunkDocument`), grown to `chunks`
 * with the corpus generator trained on them, written as a cold file of brotli blocks (`writeBlockFile`), and the
 * budgets the stores get: memory for 5% of the texts (as `textCost` counts them), local disk for 25% of their bytes.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadBrown } from '../../shared/corpus/brown.ts';
import { chunkDocument } from '../../shared/corpus/chunk.ts';
import { generateChunks, trainTextModel } from '../../shared/corpus/generate.ts';
import { BlockFile, writeBlockFile } from '../../shared/store/block-file.ts';
import type { BlockOptions } from '../../shared/store/blocks.ts';
import { textCost } from '../../shared/store/lru.ts';

export interface TextsSize {
  brownDocs: number;
  chunks: number;
}

/** Share of the texts' cost the hot tier may hold, and share of their bytes the warm file may. */
export const MEMORY_SHARE = 0.05;
export const DISK_SHARE = 0.25;
/** Zipf exponent of the reads: the r-th most popular chunk is read ∝ 1 / r. */
export const ZIPF_S = 1;

export async function loadTexts(size: TextsSize, log: (msg: string) => void = () => {}): Promise<string[]> {
  log(`loading ${size.brownDocs} Brown documents`);
  const docs = await loadBrown({ limit: size.brownDocs });
  const texts = docs.flatMap((d) => chunkDocument(d)).map((c) => c.text).slice(0, size.chunks);
  if (texts.length < size.chunks) {
    log(`generating ${size.chunks - texts.length} chunks from a bigram model of those documents`);
    for (const c of generateChunks({ model: trainTextModel(docs), chunks: size.chunks - texts.length, seed: 42 })) texts.push(c.text);
  }
  return texts;
}

export interface Budgets {
  memoryBytes: number;
  diskBytes: number;
  /** What holding every text in memory costs (Σ textCost). */
  allBytes: number;
}

export function budgets(texts: string[]): Budgets {
  let cost = 0;
  let bytes = 0;
  for (const t of texts) {
    cost += textCost(t);
    bytes += Buffer.byteLength(t, 'utf8');
  }
  return { memoryBytes: Math.floor(MEMORY_SHARE * cost), diskBytes: Math.floor(DISK_SHARE * bytes), allBytes: cost };
}

/**
 * A temporary directory with the cold file of `texts` in it (blocks of 32 KiB unless `opts` says otherwise), opened;
 * `dispose` closes and deletes it all.
 */
export async function coldStore(texts: string[], opts: BlockOptions = {}): Promise<{ cold: BlockFile; dir: string; fileBytes: number; dispose: () => Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'lab-10-tiered-'));
  const file = join(dir, 'cold.blocks');
  const { fileBytes } = writeBlockFile(file, texts, opts);
  const cold = await BlockFile.open(file);
  return {
    cold,
    dir,
    fileBytes,
    dispose: async () => {
      await cold.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A fresh empty directory for one store's files, under `parent`. */
export function storeDir(parent: string, name: string): string {
  return mkdtempSync(join(parent, `${name.replace(/[^a-z0-9]+/gi, '-')}-`));
}
