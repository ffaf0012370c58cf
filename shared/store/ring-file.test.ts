import { mkdtemp, rm, stat } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { RingFile } from './ring-file.ts';

const dir = await mkdtemp(join(tmpdir(), 'ring-test-'));
afterAll(() => rm(dir, { recursive: true, force: true }));
const text = (i: number, len = 100) => `${i}:`.padEnd(len, String.fromCharCode(97 + (i % 26)));

describe('RingFile', () => {
  it('returns what was put, and forgets the oldest once the file wraps', async () => {
    const ring = await RingFile.open(join(dir, 'a'), 1_000);
    for (let i = 0; i < 25; i++) await ring.put(i, text(i)); // 2,500 bytes through a 1,000-byte ring
    expect(ring.bytes).toBeLessThanOrEqual(1_000);
    for (let i = 0; i < 25; i++) {
      const got = await ring.get(i);
      if (got !== undefined) expect(got).toBe(text(i));
    }
    expect(await ring.get(24)).toBe(text(24));
    expect(await ring.get(0)).toBeUndefined();
    expect(ring.size).toBeGreaterThanOrEqual(9);
    expect((await stat(join(dir, 'a'))).size).toBeLessThanOrEqual(1_000);
    await ring.close(true);
    expect(existsSync(join(dir, 'a'))).toBe(false);
  });

  it('keeps the file within its budget with texts of every length', async () => {
    const ring = await RingFile.open(join(dir, 'b'), 5_000);
    for (let i = 0; i < 500; i++) {
      await ring.put(i, text(i, 1 + ((i * 37) % 900)));
      expect(ring.bytes).toBeLessThanOrEqual(5_000);
    }
    for (let i = 400; i < 500; i++) {
      const got = await ring.get(i);
      if (got !== undefined) expect(got).toBe(text(i, 1 + ((i * 37) % 900)));
    }
    expect((await stat(join(dir, 'b'))).size).toBeLessThanOrEqual(5_000);
    await ring.close(true);
  });

  it('serves concurrent reads with a buffer each, and a read of a text still being written waits for it', async () => {
    const ring = await RingFile.open(join(dir, 'c'), 100_000);
    const puts = Array.from({ length: 200 }, (_, i) => ring.put(i, text(i, 300)));
    const got = await Promise.all(Array.from({ length: 200 }, (_, i) => ring.get(i)));
    got.forEach((t, i) => expect(t).toBe(text(i, 300)));
    await Promise.all(puts);
    await ring.close(true);
  });

  it('replaces an id put twice, and keeps neither empty texts nor texts larger than the ring', async () => {
    const ring = await RingFile.open(join(dir, 'd'), 500);
    await ring.put(1, 'first');
    await ring.put(1, 'second');
    expect(await ring.get(1)).toBe('second');
    expect(ring.bytes).toBe(6);
    await ring.put(2, '');
    await ring.put(3, 'x'.repeat(501));
    expect(ring.has(2) || ring.has(3)).toBe(false);
    await ring.close(true);
  });
});
