/**
 * Small helpers for files that must survive a crash: CRC-32 of a buffer or file, fsync of a file or a directory.
 *
 *     await fsyncFile(file);   // its bytes are on disk
 *     await fsyncDir(dir);     // a rename or a new file in dir is on disk
 *     crc32(buf)               // same value as zlib.crc32 (IEEE polynomial)
 */
import { open } from 'node:fs/promises';
import * as zlib from 'node:zlib';

type Crc = (data: Uint8Array, value?: number) => number;

/** zlib.crc32 (Node ≥ 20.15), or the same CRC-32 from a table on older runtimes. */
export const crc32: Crc =
  typeof (zlib as { crc32?: unknown }).crc32 === 'function'
    ? (data, value = 0) => (zlib as unknown as { crc32: Crc }).crc32(data, value)
    : (() => {
        const table = new Uint32Array(256);
        for (let n = 0; n < 256; n++) {
          let c = n;
          for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
          table[n] = c >>> 0;
        }
        return (data: Uint8Array, value = 0) => {
          let c = ~value >>> 0;
          for (let i = 0; i < data.length; i++) c = table[(c ^ data[i]) & 0xff] ^ (c >>> 8);
          return ~c >>> 0;
        };
      })();

/** Size and CRC-32 of a file, read in 4 MiB pieces. */
export async function fileChecksum(file: string): Promise<{ bytes: number; crc32: number }> {
  const fh = await open(file, 'r');
  try {
    const buf = Buffer.allocUnsafe(4 << 20);
    let crc = 0;
    let bytes = 0;
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      crc = crc32(buf.subarray(0, bytesRead), crc);
      bytes += bytesRead;
    }
    return { bytes, crc32: crc };
  } finally {
    await fh.close();
  }
}

/** fsync a file, or a directory (so renames and new files in it survive a crash). */
export async function fsyncPath(path: string): Promise<void> {
  const fh = await open(path, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** fsync one file. */
export const fsyncFile = fsyncPath;

/** fsync a directory, so renames and new files in it survive a crash. */
export const fsyncDir = fsyncPath;
