import { open, rename, rm } from 'node:fs/promises';

/**
 * Write `parts` to `file` so that readers (and a crash) see either the old file or the complete new one, never a torn
 * write: write a temporary file beside it, fsync, then rename over the target (atomic on POSIX file systems).
 */
export async function writeAtomic(file: string, parts: Uint8Array[] | Uint8Array | string): Promise<void> {
  const list = typeof parts === 'string' ? [Buffer.from(parts, 'utf8')] : parts instanceof Uint8Array ? [parts] : parts;
  const tmp = `${file}.tmp-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;
  try {
    const fh = await open(tmp, 'w');
    try {
      for (const p of list) {
        // fh.write may write fewer bytes than asked for large buffers: loop until done.
        for (let off = 0; off < p.length; ) {
          const { bytesWritten } = await fh.write(p, off, Math.min(p.length - off, 1 << 30));
          off += bytesWritten;
        }
      }
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}
