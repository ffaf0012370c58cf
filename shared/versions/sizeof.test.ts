import { describe, expect, it } from 'vitest';
import { reachableBytes } from './sizeof.ts';

describe('reachable bytes', () => {
  it('counts shared objects once and copies twice', () => {
    const chunk = { text: 'x'.repeat(1_000) };
    const shared = reachableBytes([chunk, chunk]);
    const copied = reachableBytes([chunk, { text: 'x'.repeat(1_000) }]);
    expect(copied - shared).toBeGreaterThanOrEqual(1_000);
  });

  it('counts the bytes of an ArrayBuffer once however many views share it', () => {
    const data = new Float32Array(1_000);
    const one = reachableBytes({ a: data });
    const two = reachableBytes({ a: data, b: data.subarray(0, 500) });
    expect(one).toBeGreaterThanOrEqual(4_000);
    expect(two - one).toBeLessThan(100);
    expect(reachableBytes(Buffer.from('abc'))).toBeLessThan(100); // not Node's 8 kB pool
  });

  it('walks Maps, Sets and class instances, and stops at excluded objects', () => {
    class Holder {
      big = new Uint8Array(10_000);
      map = new Map([['k', new Uint8Array(5_000)]]);
      set = new Set([new Uint8Array(2_000)]);
    }
    const h = new Holder();
    expect(reachableBytes(h)).toBeGreaterThanOrEqual(17_000);
    expect(reachableBytes(h, { exclude: [h.big] })).toBeLessThan(8_000);
  });

  it('counts wide strings at two bytes a character', () => {
    expect(reachableBytes('é'.repeat(100))).toBeLessThan(reachableBytes('😀'.repeat(100)));
  });
});
