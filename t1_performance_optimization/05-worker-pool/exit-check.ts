/**
 * Used by the checkpoint: `node --import tsx exit-check.ts <module-url>` creates the module's chunk embedder, embeds
 * two documents, closes it and prints "ok". If `close` leaves a thread running, the process never exits and the
 * checkpoint's timeout catches it.
 */
import { loadBrown } from '../../shared/corpus/brown.ts';
import { createDefaultEmbedder } from '../../shared/embed/sif.ts';
import type { ChunkEmbedder, ChunkEmbedderOptions } from './types.ts';

const mod = (await import(process.argv[2])) as { createChunkEmbedder(o: ChunkEmbedderOptions): Promise<ChunkEmbedder> };
const docs = await loadBrown({ limit: 2 });
const sif = await createDefaultEmbedder();
const embedder = await mod.createChunkEmbedder({ sifState: sif.state(), threads: 1 });
const out = await embedder.embedDocs(docs);
await embedder.close();
process.stdout.write(out.ids.length > 0 ? 'ok\n' : 'no chunks\n');
