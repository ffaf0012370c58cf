/**
 * What the comparison's peer servers share: reading the saved index's chunks (the same corpus our server serves),
 * the same SIF embedder in the same fitted state, and a tiny node:cluster wrapper.
 */
import cluster from 'node:cluster';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { ChunkStore } from '../../answer/chunk-store.ts';
import { join } from 'node:path';
import { createDefaultEmbedder, type SifEmbedder } from '../../embed/sif.ts';
import { indexText } from '../../corpus/chunk.ts';
import type { Chunk } from '../../types.ts';
import { fail, numberFlag, parseCli } from '../../util/cli.ts';

export interface PeerArgs {
  index: string;
  port: number;
  workers: number;
}

export function peerArgs(usage: string, needsIndex = true): PeerArgs {
  const { values } = parseCli(usage, { index: { type: 'string' }, port: { type: 'string' }, workers: { type: 'string' } });
  if (needsIndex && !values.index) fail('--index <dir> is required');
  return {
    index: values.index ?? '',
    port: numberFlag('port', values.port, 8080, (n) => Number.isInteger(n) && n > 0 && n < 65536),
    workers: numberFlag('workers', values.workers, 1, (n) => Number.isInteger(n) && n > 0),
  };
}

/** The live chunks of a saved index, in label order (format 2: chunks.bin, read by offset; format 1: chunks.jsonl). */
export async function readChunks(indexDir: string): Promise<Chunk[]> {
  const chunks: Chunk[] = [];
  if (existsSync(join(indexDir, 'chunks.bin'))) {
    const store = await ChunkStore.open(join(indexDir, 'chunks.bin'));
    for (const label of store.labels()) chunks.push(store.get(label)!);
    store.close();
    return chunks;
  }
  const text = await readFile(join(indexDir, 'chunks.jsonl'), 'utf8');
  for (const line of text.split('\n')) if (line) chunks.push((JSON.parse(line) as [number, Chunk])[1]);
  return chunks;
}

/** The default SIF embedder restored to the state the index was built with (same vectors as our engine). */
export async function indexEmbedder(indexDir: string): Promise<SifEmbedder> {
  const manifest = JSON.parse(await readFile(join(indexDir, 'manifest.json'), 'utf8')) as { embedder: { state?: unknown } };
  const embedder = await createDefaultEmbedder();
  if (manifest.embedder.state !== undefined) embedder.restore(manifest.embedder.state);
  return embedder;
}

export { indexText };

/** Runs `start` in `workers` processes sharing the port (or in this process when workers = 1). */
export function clustered(workers: number, start: () => Promise<void>): void {
  if (workers > 1 && cluster.isPrimary) {
    for (let i = 0; i < workers; i++) cluster.fork();
    const stop = () => {
      for (const w of Object.values(cluster.workers ?? {})) w?.kill('SIGTERM');
      setTimeout(() => process.exit(0), 2000).unref();
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
    cluster.on('exit', () => {
      if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0);
    });
    return;
  }
  process.on('SIGTERM', () => process.exit(0));
  process.on('SIGINT', () => process.exit(0));
  start().catch((err) => {
    process.stderr.write(`error: ${(err as Error).message}\n`);
    process.exit(1);
  });
}
