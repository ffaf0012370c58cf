import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isRagError } from '../errors.ts';
import { FlatIndex } from '../index/flat.ts';
import { gaussian, mulberry32 } from '../util/random.ts';
import { VectorFile, writeVectorFile } from './vector-file.ts';

const dir = await mkdtemp(join(tmpdir(), 'vector-file-test-'));
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('VectorFile', () => {
  const g = gaussian(mulberry32(1));
  const vectors = Array.from({ length: 5_000 }, () => Float32Array.from({ length: 12 }, g)); // more than one write block
  vectors[3] = new Float32Array(12); // a zero vector stays zero

  it('stores the rows normalised exactly as FlatIndex does, and reads any row by offset', () => {
    const file = join(dir, 'v.f32');
    writeVectorFile(file, vectors, 12);
    const vf = new VectorFile(file);
    const flat = new FlatIndex({ dim: 12 });
    flat.add(vectors.map((_, i) => i), vectors);
    const out = new Float32Array(12);
    for (const row of [0, 3, 4095, 4096, 4999]) {
      vf.read(row, out);
      expect(Array.from(out)).toEqual(Array.from(flat.vector(row)!));
    }
    expect(vf.rowsRead).toBe(5);
    expect(vf.size).toBe(5_000);
    expect(() => vf.read(5_000, out)).toThrow(/no row/);
    vf.close();
    expect(() => vf.read(0, out)).toThrow(/closed/);
  });

  it('refuses a missing, foreign or truncated file', async () => {
    expect(() => new VectorFile(join(dir, 'none'))).toThrow(expect.objectContaining({ code: 'NOT_FOUND' }));
    await writeFile(join(dir, 'foreign'), 'hello, not vectors');
    expect(() => new VectorFile(join(dir, 'foreign'))).toThrow(expect.objectContaining({ code: 'CORRUPT' }));
    const file = join(dir, 'short.f32');
    writeVectorFile(file, vectors.slice(0, 10), 12);
    const { readFile } = await import('node:fs/promises');
    await writeFile(file, (await readFile(file)).subarray(0, 100));
    try {
      new VectorFile(file);
      expect.unreachable();
    } catch (err) {
      expect(isRagError(err, 'CORRUPT')).toBe(true);
    }
  });
});
