/**
 * Wrong (on purpose): after.ts's three tiers, with the warm file read "into a reused buffer": one buffer for every
 * read of the store. With one read in flight that is fine; with several, each read's bytes land in the same buffer,
 * and a read is decoded after another one has already overwritten it.
 *
 * What differs from after.ts: the warm ring file's read buffers (`readBuffers`): one shared buffer instead of a
 * buffer per read in flight (`BufferPool`). The memory tier, the ring file and the cold file are after.ts's.
 *
 * @rejected-with concurrent reads returned the wrong bytes
 */
import { join } from 'node:path';
import type { ReadBuffers } from '../../../shared/store/ring-file.ts';
import { TieredTextStore } from '../../../shared/store/tiered.ts';
import type { ChunkStore, ColdStore, TierOptions } from '../after.ts';

export type { ChunkStore, ColdStore, TierOptions, TierStats } from '../after.ts';

/** The same buffer for every read (grown, and still shared, when a text is longer). */
function oneBuffer(): ReadBuffers {
  let shared = Buffer.alloc(64 * 1024);
  return {
    acquire(size: number): Buffer {
      if (size > shared.length) shared = Buffer.alloc(size);
      return shared;
    },
    release() {},
  };
}

export function openStore(cold: ColdStore, opts: TierOptions): Promise<ChunkStore> {
  return TieredTextStore.open(cold, {
    memoryBytes: opts.memoryBytes,
    warm: { file: join(opts.dir, 'warm.ring'), bytes: opts.diskBytes, readBuffers: oneBuffer() },
  });
}
