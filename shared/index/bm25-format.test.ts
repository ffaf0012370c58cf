import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { RagError } from '../errors.ts';
import { buildSmallBm25, smallBm25Queries } from './__fixtures__/small-bm25.ts';
import {
  BM25_BLOCK,
  BM25_FORMAT_VERSION,
  BM25_MAGIC,
  ByteWriter,
  IntWriter,
  bm25FileVersion,
  bm25Layout,
  decodeBm25,
  decodePostings,
  encodeBm25,
  encodePostings,
} from './bm25-format.ts';
import { mulberry32 } from '../util/random.ts';
import { Bm25Index } from './bm25.ts';

/** Written by Bm25Index.serialize() before the format had its own module (see __fixtures__/small-bm25.ts). */
const saved = new Uint8Array(readFileSync(new URL('./__fixtures__/small-bm25.bin', import.meta.url)));

describe('the BM25 file format', () => {
  it('loads a file written before the format moved to its own module', () => {
    const built = buildSmallBm25();
    const loaded = Bm25Index.deserialize(saved);
    expect(loaded.k1).toBe(1.1);
    expect(loaded.b).toBe(0.6);
    built.compact(); // the file holds no dead postings
    expect(loaded.stats()).toEqual(built.stats());
    for (let label = 0; label <= 128; label++) expect(loaded.has(label)).toBe(built.has(label));
    for (const q of smallBm25Queries) expect(loaded.search(q, 10)).toEqual(built.search(q, 10));
    // the fixture covers the cases the layout must get right
    const { header } = decodeBm25(saved);
    expect(header.postings % 2).toBe(1); // the tf section needs padding
    expect(Math.ceil(header.labelCap / 32)).toBeGreaterThan(1);
  });

  it('writes format 2 from a format-1 file, to the same results, and a loaded index writes the same bytes again', () => {
    const v2 = Bm25Index.deserialize(saved).serialize();
    expect(bm25FileVersion(v2)).toBe(2);
    expect(Buffer.from(buildSmallBm25().serialize()).equals(Buffer.from(v2))).toBe(true);
    const loaded = Bm25Index.deserialize(v2);
    expect(Buffer.from(loaded.serialize()).equals(Buffer.from(v2))).toBe(true);
    const built = buildSmallBm25();
    for (const q of smallBm25Queries) expect(loaded.search(q, 10)).toEqual(built.search(q, 10));
  });

  it('compresses postings: variable-byte gaps with the tf folded in, skip entries every block, exact round trip', () => {
    const rand = mulberry32(5);
    const n = 3 * BM25_BLOCK + 17;
    const labels = new Int32Array(n);
    const tfs = new Uint16Array(n);
    let l = -1;
    for (let i = 0; i < n; i++) {
      // small gaps mostly, some huge ones (up to the label limit), tf 1 mostly, some large
      l += i === n - 1 ? 2 ** 31 - 2 - l : rand() < 0.05 ? 1 + Math.floor(rand() * 1e6) : 1 + Math.floor(rand() * 5);
      labels[i] = l;
      tfs[i] = rand() < 0.8 ? 1 : i === 5 ? 65_535 : 2 + Math.floor(rand() * 300);
    }
    const out = new ByteWriter(8);
    const skips = new IntWriter(2);
    const bytes = encodePostings(labels, tfs, n, out, skips);
    expect(bytes).toBe(out.length);
    expect(bytes / n).toBeLessThan(2.5);
    expect(skips.length).toBe(2 * 3);
    const gotL = new Int32Array(n);
    const gotT = new Uint16Array(n);
    expect(decodePostings(out.bytes, 0, n, -1, gotL, gotT, 0)).toBe(bytes);
    expect([...gotL]).toEqual([...labels]);
    expect([...gotT]).toEqual([...tfs]);
    // a block decodes on its own from its skip entry
    const b = 2;
    const [prev, at] = [skips.ints[2 * (b - 1)], skips.ints[2 * (b - 1) + 1]];
    decodePostings(out.bytes, at, BM25_BLOCK, prev, gotL, gotT, 0);
    expect([...gotL.subarray(0, BM25_BLOCK)]).toEqual([...labels.subarray(b * BM25_BLOCK, (b + 1) * BM25_BLOCK)]);
  });

  it('lays sections out back to back on 4-byte boundaries, sized from the header', () => {
    const layout = bm25Layout(377, { terms: ['a', 'b', 'c'], postings: 5, labelCap: 70 });
    expect(layout.sections).toEqual([
      { name: 'postingCounts', kind: 'int32', length: 3, offset: 12 + 380 },
      { name: 'labels', kind: 'int32', length: 5, offset: 404 },
      { name: 'tfs', kind: 'uint16', length: 5, offset: 424 },
      { name: 'docLengths', kind: 'float32', length: 70, offset: 436 }, // 10 bytes of tfs padded to 12
      { name: 'live', kind: 'uint32', length: 3, offset: 716 },
    ]);
    expect(layout.size).toBe(728);
  });

  it('hands the writer the views the reader gets back', () => {
    const header = { k1: 1, b: 0.5, compactRatio: 0.25, terms: ['x', 'y'], postings: 3, labelCap: 33, docs: 2, totalLength: 7 };
    const bytes = encodeBm25(header, (s) => {
      s.postingCounts.set([2, 1]);
      s.labels.set([0, 32, 32]);
      s.tfs.set([1, 4, 2]);
      s.docLengths[0] = 3;
      s.docLengths[32] = 4;
      s.live.set([1, 1]);
    });
    const { header: h, sections } = decodeBm25(bytes);
    expect(h).toEqual({ format: 'bm25', version: BM25_FORMAT_VERSION, ...header });
    expect([...sections.postingCounts]).toEqual([2, 1]);
    expect([...sections.labels]).toEqual([0, 32, 32]);
    expect([...sections.tfs]).toEqual([1, 4, 2]);
    expect(sections.docLengths.length).toBe(33);
    expect([sections.docLengths[0], sections.docLengths[32]]).toEqual([3, 4]);
    expect([...sections.live]).toEqual([1, 1]);
    expect(Bm25Index.deserialize(bytes).search(['y'], 5).map((hit) => hit.label)).toEqual([32]);
  });

  it('rejects a file whose size does not match its header, or whose header is not one', () => {
    const code = (bytes: Uint8Array) => {
      try {
        decodeBm25(bytes);
      } catch (e) {
        return `${(e as RagError).code}: ${(e as Error).message}`;
      }
      return 'accepted';
    };
    const longer = new Uint8Array(saved.length + 4);
    longer.set(saved);
    expect(code(longer)).toMatch(/^CORRUPT: .*header implies/);
    const newer = saved.slice();
    newer[4] = 3;
    expect(() => Bm25Index.deserialize(newer)).toThrow('bm25 index: format version 3, expected 1 or 2');
    const withHeader = (json: string) => {
      const text = new TextEncoder().encode(json);
      const bytes = new Uint8Array(12 + ((text.length + 3) & ~3)); // an empty index: no section has a length
      const view = new DataView(bytes.buffer);
      view.setUint32(0, BM25_MAGIC, true);
      view.setUint32(4, 1, true);
      view.setUint32(8, text.length, true);
      bytes.set(text, 12);
      return bytes;
    };
    expect(code(withHeader('{"terms":[],"postings":0,"labelCap":0}'))).toBe('accepted');
    expect(code(withHeader('{"terms":[],"postings":-1,"labelCap":0}'))).toMatch(/^CORRUPT: .*missing fields/);
    expect(code(withHeader('{"terms":[],"labelCap":0}'))).toMatch(/^CORRUPT: .*missing fields/);
    expect(code(withHeader('{"terms":[],'))).toMatch(/^CORRUPT: .*not valid JSON/);
  });
});
