/**
 * engine.save is crash-safe and loadEngine checks what it reads: every file's size and CRC-32 in the manifest,
 * written last; a changed byte anywhere is an error naming the file; `meta` is kept; nothing temporary is left.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadBrown } from './corpus/brown.ts';
import { createEngine, loadEngine, type Engine } from './engine.ts';

let root: string;
let engine: Engine;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'rag-engine-save-'));
  engine = await createEngine({ llm: null });
  await engine.ingest(await loadBrown({ limit: 5 }));
}, 60_000);

afterAll(async () => {
  if (root) await rm(root, { recursive: true, force: true });
});

describe('engine.save / loadEngine', () => {
  it('records every file with its size and CRC-32, keeps meta, and leaves no temporary folder', async () => {
    const dir = join(root, 'a');
    await engine.save(dir, { meta: { version: 42 } });
    const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
    expect(manifest.meta).toEqual({ version: 42 });
    expect(Object.keys(manifest.files).sort()).toEqual(readdirSync(dir).filter((f) => f !== 'manifest.json').sort());
    for (const f of Object.values(manifest.files) as Array<{ bytes: number; crc32: number }>) {
      expect(f.bytes).toBeGreaterThan(0);
      expect(Number.isInteger(f.crc32)).toBe(true);
    }
    expect(readdirSync(root)).toEqual(['a']);
    const again = await loadEngine(dir, { llm: null });
    expect(again.stats()).toEqual(engine.stats());
  });

  it('refuses a saved engine with one changed byte, naming the file', async () => {
    const dir = join(root, 'b');
    await engine.save(dir);
    const file = join(dir, 'chunks.jsonl');
    const buf = readFileSync(file);
    buf[Math.floor(buf.length / 2)] ^= 0x01;
    writeFileSync(file, buf);
    await expect(loadEngine(dir, { llm: null })).rejects.toThrow(/chunks\.jsonl: \d+ bytes, CRC-32 \d+; .*manifest\.json says/);
  });

  it('saving over an existing folder replaces it whole', async () => {
    const dir = join(root, 'c');
    await engine.save(dir, { meta: { version: 1 } });
    await engine.save(dir, { meta: { version: 2 } });
    expect(JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')).meta.version).toBe(2);
    expect(readdirSync(root).filter((n) => n.startsWith('c'))).toEqual(['c']);
  });
});
