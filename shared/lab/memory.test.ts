import { describe, expect, it } from 'vitest';
import { heldAfter, heldBytes, heldEach } from './memory.ts';

const MB = 1024 * 1024;
/**
 * The collector's noise a reading may carry in a test worker (a few hundred KB: feedback vectors, late-released
 * buffers): the objects measured here are many times larger, so the checks hold on every run.
 */
const SLACK = 1 * MB;

describe('memory held after GC', () => {
  it('charges an object for the typed array it keeps', async () => {
    await heldBytes(() => ({ rows: new Float32Array(1024) })); // warm-up: code and feedback the first call allocates
    const { value, bytes, arrayBuffers } = await heldBytes(() => ({ rows: new Float32Array((16 * MB) / 4) }));
    expect(value.rows.length).toBe((16 * MB) / 4);
    expect(arrayBuffers).toBeGreaterThanOrEqual(16 * MB - SLACK);
    expect(Math.abs(bytes - 16 * MB)).toBeLessThan(SLACK);
  });

  it('charges heap objects (strings in an array) too, and not the garbage made on the way', async () => {
    const make = () => {
      // Buffer → string: flat one-byte strings of exactly 1,000 characters
      const garbage = Array.from({ length: 10_000 }, (_, i) => Buffer.from(`dropped ${i} `.padEnd(1_000, '.')).toString('latin1'));
      const kept = Array.from({ length: 10_000 }, (_, i) => Buffer.from(`kept ${i} `.padEnd(1_000, '.')).toString('latin1'));
      return garbage.length > 0 ? kept : [];
    };
    await heldBytes(make);
    const { value, bytes, heap } = await heldBytes(make);
    const chars = value.reduce((s, t) => s + t.length, 0); // one byte a character (Latin-1 strings)
    expect(heap).toBeGreaterThanOrEqual(chars - SLACK);
    expect(bytes).toBeLessThan(1.5 * chars); // the dropped half (another `chars` bytes) is not counted
  });

  it('charges nothing for an object that keeps nothing', async () => {
    await heldBytes(() => new Float32Array(MB).length);
    const { bytes } = await heldBytes(() => new Float32Array((16 * MB) / 4).length);
    expect(Math.abs(bytes)).toBeLessThan(SLACK);
  });

  it('heldEach charges each of several objects kept together with its own growth', async () => {
    const held = await heldEach(() => new Uint8Array(8 * MB), 3);
    expect(held).toHaveLength(3);
    for (const h of held) expect(Math.abs(h.bytes - 8 * MB)).toBeLessThan(SLACK);
  });

  it('heldAfter measures an object made asynchronously', async () => {
    const { value, bytes } = await heldAfter(async () => {
      await new Promise((r) => setTimeout(r, 1));
      return Buffer.alloc(8 * MB, 1);
    });
    expect(value[0]).toBe(1);
    expect(Math.abs(bytes - 8 * MB)).toBeLessThan(SLACK);
  });
});
