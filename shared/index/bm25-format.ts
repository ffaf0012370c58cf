/**
 * The on-disk format of a BM25 index (`bm25.bin` in a saved engine). `Bm25Index.serialize` writes version 2
 * (compressed postings, below); version 1 is still read. Version 1, little-endian:
 *
 *     offset 0   uint32  magic 0x35324d42 ("BM25")
 *            4   uint32  format version (1)
 *            8   uint32  header length in bytes
 *           12   UTF-8 JSON header {format, version, k1, b, compactRatio, terms, postings, labelCap, docs,
 *                totalLength}, zero-padded to a multiple of 4
 *                then the sections `bm25Layout` lists, in its order, each starting on a 4-byte boundary
 *
 * One function, `bm25Layout`, derives every section's type, length and offset from the header; the writer
 * (`encodeBm25`) and the reader (`decodeBm25`) both take their views from it, so they cannot disagree about where a
 * section starts or how long it is. Bm25Index.serialize / deserialize fill and read the sections.
 */
import { RagError } from '../errors.ts';

export const BM25_MAGIC = 0x35324d42; // "BM25" little-endian
/** The version `decodeBm25`/`encodeBm25` read and write (plain int32 labels and uint16 term frequencies). */
export const BM25_FORMAT_VERSION = 1;
/** The version `Bm25Index.serialize` writes: compressed postings (see `encodeBm25v2`). */
export const BM25_FORMAT_VERSION_2 = 2;
/** magic, version, header length */
const PREAMBLE_BYTES = 12;

/** The JSON header. */
export interface Bm25Header {
  format: 'bm25';
  version: number;
  k1: number;
  b: number;
  compactRatio: number;
  /** The dictionary; a term's id is its position. */
  terms: string[];
  /** Postings in the file (all live: the index is compacted before it is written). */
  postings: number;
  /** Size of the label space: per-label sections hold this many entries. */
  labelCap: number;
  /** Live documents, checked against the live bitmap on load. */
  docs: number;
  /** Sum of the live documents' lengths, checked on load. */
  totalLength: number;
}

/** Views of the typed-array sections of one file. */
export interface Bm25Sections {
  /** Per term id: how many postings it has. Its postings follow the previous terms' in `labels` and `tfs`. */
  postingCounts: Int32Array;
  /** Every posting's label, term by term. */
  labels: Int32Array;
  /** Every posting's term frequency, parallel to `labels`. */
  tfs: Uint16Array;
  /** Per label: document length in tokens (0 for a label not in use). */
  docLengths: Float32Array;
  /** Per label: one live bit, 32 labels per word. */
  live: Uint32Array;
}

type SectionArray = new (buffer: ArrayBufferLike, byteOffset: number, length: number) => ArrayBufferView;
const ARRAYS: Record<'int32' | 'uint16' | 'uint32' | 'float32', SectionArray & { BYTES_PER_ELEMENT: number }> = {
  int32: Int32Array,
  uint16: Uint16Array,
  uint32: Uint32Array,
  float32: Float32Array,
};

export interface Bm25Section {
  name: keyof Bm25Sections;
  kind: keyof typeof ARRAYS;
  /** Elements. */
  length: number;
  /** Bytes from the start of the file. */
  offset: number;
}

export interface Bm25Layout {
  sections: Bm25Section[];
  /** Bytes in the whole file. */
  size: number;
}

/** Where every section of a file with this header (and JSON header length in bytes) lies. */
export function bm25Layout(headerBytes: number, h: Pick<Bm25Header, 'terms' | 'postings' | 'labelCap'>): Bm25Layout {
  const shape: Array<Pick<Bm25Section, 'name' | 'kind' | 'length'>> = [
    { name: 'postingCounts', kind: 'int32', length: h.terms.length },
    { name: 'labels', kind: 'int32', length: h.postings },
    { name: 'tfs', kind: 'uint16', length: h.postings },
    { name: 'docLengths', kind: 'float32', length: h.labelCap },
    { name: 'live', kind: 'uint32', length: Math.ceil(h.labelCap / 32) },
  ];
  let offset = PREAMBLE_BYTES + align4(headerBytes);
  const sections = shape.map((s) => {
    const section = { ...s, offset };
    offset = align4(offset + s.length * ARRAYS[s.kind].BYTES_PER_ELEMENT);
    return section;
  });
  return { sections, size: offset };
}

/**
 * Writes a file: the preamble and header, then hands `fill` a view of every section (zeroed, laid out by
 * `bm25Layout`) to copy the index into.
 */
export function encodeBm25(header: Omit<Bm25Header, 'format' | 'version'>, fill: (sections: Bm25Sections) => void): Uint8Array {
  const full: Bm25Header = {
    format: 'bm25',
    version: BM25_FORMAT_VERSION,
    k1: header.k1,
    b: header.b,
    compactRatio: header.compactRatio,
    terms: header.terms,
    postings: header.postings,
    labelCap: header.labelCap,
    docs: header.docs,
    totalLength: header.totalLength,
  };
  const json = new TextEncoder().encode(JSON.stringify(full));
  const layout = bm25Layout(json.length, full);
  const bytes = new Uint8Array(layout.size);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, BM25_MAGIC, true);
  view.setUint32(4, BM25_FORMAT_VERSION, true);
  view.setUint32(8, json.length, true);
  bytes.set(json, PREAMBLE_BYTES);
  fill(sectionViews(bytes, layout));
  return bytes;
}

/**
 * Reads a file's header and views of its sections (into a private, aligned copy of `input`). Throws
 * RagError('CORRUPT') when the bytes are not a BM25 index of this version or their size does not match the header.
 * The sections' contents are the caller's to check.
 */
export function decodeBm25(input: Uint8Array): { header: Bm25Header; sections: Bm25Sections } {
  if (!(input instanceof Uint8Array) || input.length < PREAMBLE_BYTES) return corrupt('too short');
  const bytes = input.slice(); // aligned private copy
  const view = new DataView(bytes.buffer);
  if (view.getUint32(0, true) !== BM25_MAGIC) return corrupt('bad magic (not a BM25 index file)');
  const version = view.getUint32(4, true);
  if (version !== BM25_FORMAT_VERSION) return corrupt(`format version ${version}, expected ${BM25_FORMAT_VERSION}`);
  const headerBytes = view.getUint32(8, true);
  if (PREAMBLE_BYTES + headerBytes > bytes.length) return corrupt('truncated header');
  let header: Bm25Header;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(PREAMBLE_BYTES, PREAMBLE_BYTES + headerBytes)));
  } catch {
    return corrupt('header is not valid JSON');
  }
  if (!Array.isArray(header.terms) || !isCount(header.postings) || !isCount(header.labelCap)) {
    return corrupt('header is missing fields');
  }
  const layout = bm25Layout(headerBytes, header);
  if (bytes.length !== layout.size) return corrupt(`size ${bytes.length} bytes, header implies ${layout.size}`);
  return { header, sections: sectionViews(bytes, layout) };
}

function sectionViews(bytes: Uint8Array, layout: Bm25Layout): Bm25Sections {
  const views: Partial<Record<keyof Bm25Sections, ArrayBufferView>> = {};
  for (const s of layout.sections) views[s.name] = new ARRAYS[s.kind](bytes.buffer, bytes.byteOffset + s.offset, s.length);
  return views as unknown as Bm25Sections;
}

function corrupt(why: string): never {
  throw new RagError('CORRUPT', `bm25 index: ${why}`);
}

function isCount(n: unknown): n is number {
  return Number.isInteger(n) && (n as number) >= 0;
}

function align4(n: number): number {
  return (n + 3) & ~3;
}


// ------------------------------------------------------------------------------------------------ version 2
/*
 * Version 2: the postings compressed, as the index also holds them in memory (shared/index/bm25.ts):
 *
 *     offset 0   uint32  magic, 4 uint32 version (2), 8 uint32 header length, 12 UTF-8 JSON header {format,
 *                version, k1, b, compactRatio, terms, postings, bytes, skips, labelCap, docs, totalLength}, zero-padded
 *                to a multiple of 8, then these sections, each starting on an 8-byte boundary:
 *                  listOffsets  float64[terms + 1]  byte offset of each term's list in `blob` (and the end)
 *                  postingCounts int32[terms]
 *                  maxTf        uint16[terms]       highest term frequency in each list
 *                  blob         uint8[bytes]        the lists, term after term
 *                  skips        int32[2 × skips]    per term, for each block of 128 postings after the first: the
 *                                                   label before the block and the block's byte offset in the list
 *                  docLengths   float32[labelCap]
 *                  live         uint32[⌈labelCap / 32⌉]
 *
 * A list holds its postings in ascending label order, each as a variable-byte number (7 bits a byte, low bits
 * first, the high bit set on every byte but the last) v = 2·(label − previous label) + (tf > 1), followed, when
 * tf > 1, by the variable-byte number tf − 2. The previous label of a list's first posting is −1, of a block's first
 * the label its skip entry records. Most gaps in a common term's list and most term frequencies are small: about 1.3
 * bytes a posting instead of 6 (int32 label + uint16 tf), figures in shared/index/README.md.
 */

/** Postings per block: a lookup decodes at most one block after a binary search over the skip entries. */
export const BM25_BLOCK = 128;

export interface Bm25HeaderV2 extends Omit<Bm25Header, 'version'> {
  version: 2;
  /** Bytes of all lists. */
  bytes: number;
  /** Skip entries (pairs) of all lists. */
  skips: number;
}

export interface Bm25SectionsV2 {
  listOffsets: Float64Array;
  postingCounts: Int32Array;
  maxTf: Uint16Array;
  blob: Uint8Array;
  skips: Int32Array;
  docLengths: Float32Array;
  live: Uint32Array;
}

const ARRAYS_V2 = { float64: Float64Array, int32: Int32Array, uint16: Uint16Array, uint8: Uint8Array, uint32: Uint32Array, float32: Float32Array };

/** Where every section of a version 2 file lies. */
export function bm25LayoutV2(headerBytes: number, h: Pick<Bm25HeaderV2, 'terms' | 'bytes' | 'skips' | 'labelCap'>) {
  const T = h.terms.length;
  const shape: Array<{ name: keyof Bm25SectionsV2; kind: keyof typeof ARRAYS_V2; length: number }> = [
    { name: 'listOffsets', kind: 'float64', length: T + 1 },
    { name: 'postingCounts', kind: 'int32', length: T },
    { name: 'maxTf', kind: 'uint16', length: T },
    { name: 'blob', kind: 'uint8', length: h.bytes },
    { name: 'skips', kind: 'int32', length: 2 * h.skips },
    { name: 'docLengths', kind: 'float32', length: h.labelCap },
    { name: 'live', kind: 'uint32', length: Math.ceil(h.labelCap / 32) },
  ];
  let offset = align8(PREAMBLE_BYTES + headerBytes);
  const sections = shape.map((s) => {
    const section = { ...s, offset };
    offset = align8(offset + s.length * ARRAYS_V2[s.kind].BYTES_PER_ELEMENT);
    return section;
  });
  return { sections, size: offset };
}

/** Writes a version 2 file: the preamble and header, then hands `fill` a zeroed view of every section. */
export function encodeBm25v2(header: Omit<Bm25HeaderV2, 'format' | 'version'>, fill: (sections: Bm25SectionsV2) => void): Uint8Array {
  const full: Bm25HeaderV2 = { format: 'bm25', version: 2, ...header };
  const json = new TextEncoder().encode(JSON.stringify(full));
  const layout = bm25LayoutV2(json.length, full);
  const bytes = new Uint8Array(layout.size);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, BM25_MAGIC, true);
  view.setUint32(4, 2, true);
  view.setUint32(8, json.length, true);
  bytes.set(json, PREAMBLE_BYTES);
  fill(sectionViewsV2(bytes, layout.sections));
  return bytes;
}

/** The version of a BM25 file (1 or 2), from its preamble; throws RagError('CORRUPT') for anything else. */
export function bm25FileVersion(input: Uint8Array): 1 | 2 {
  if (!(input instanceof Uint8Array) || input.length < PREAMBLE_BYTES) return corrupt('too short');
  const view = new DataView(input.buffer, input.byteOffset, input.byteLength);
  if (view.getUint32(0, true) !== BM25_MAGIC) return corrupt('bad magic (not a BM25 index file)');
  const version = view.getUint32(4, true);
  if (version !== 1 && version !== 2) return corrupt(`format version ${version}, expected 1 or 2`);
  return version;
}

/**
 * Reads a version 2 file: header and views of its sections, into `input` itself when it is 8-byte aligned (no copy:
 * the index keeps the file's bytes as its postings), else into an aligned copy.
 */
export function decodeBm25v2(input: Uint8Array): { header: Bm25HeaderV2; sections: Bm25SectionsV2 } {
  if (bm25FileVersion(input) !== 2) return corrupt('not format version 2');
  const bytes = input.byteOffset % 8 === 0 ? input : input.slice();
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerBytes = view.getUint32(8, true);
  if (PREAMBLE_BYTES + headerBytes > bytes.length) return corrupt('truncated header');
  let header: Bm25HeaderV2;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(PREAMBLE_BYTES, PREAMBLE_BYTES + headerBytes)));
  } catch {
    return corrupt('header is not valid JSON');
  }
  if (!Array.isArray(header.terms) || !isCount(header.postings) || !isCount(header.labelCap) || !isCount(header.bytes) || !isCount(header.skips)) {
    return corrupt('header is missing fields');
  }
  const layout = bm25LayoutV2(headerBytes, header);
  if (bytes.length !== layout.size) return corrupt(`size ${bytes.length} bytes, header implies ${layout.size}`);
  return { header, sections: sectionViewsV2(bytes, layout.sections) };
}

function sectionViewsV2(bytes: Uint8Array, sections: Array<{ name: keyof Bm25SectionsV2; kind: keyof typeof ARRAYS_V2; length: number; offset: number }>): Bm25SectionsV2 {
  const views: Partial<Record<keyof Bm25SectionsV2, ArrayBufferView>> = {};
  for (const s of sections) views[s.name] = new ARRAYS_V2[s.kind](bytes.buffer as ArrayBuffer, bytes.byteOffset + s.offset, s.length);
  return views as unknown as Bm25SectionsV2;
}

function align8(n: number): number {
  return Math.ceil(n / 8) * 8;
}

/** A growable byte buffer. */
export class ByteWriter {
  bytes: Uint8Array;
  length = 0;
  constructor(capacity = 256) {
    this.bytes = new Uint8Array(capacity);
  }
  ensure(extra: number): void {
    if (this.length + extra <= this.bytes.length) return;
    const b = new Uint8Array(Math.max(this.length + extra, this.bytes.length * 2));
    b.set(this.bytes.subarray(0, this.length));
    this.bytes = b;
  }
  /** A variable-byte number (0 ≤ v < 2^32). */
  vbyte(v: number): void {
    this.ensure(5);
    const b = this.bytes;
    let n = this.length;
    while (v >= 128) {
      b[n++] = (v & 127) | 128;
      v = Math.floor(v / 128);
    }
    b[n++] = v;
    this.length = n;
  }
}

/** A growable int32 list. */
export class IntWriter {
  ints: Int32Array;
  length = 0;
  constructor(capacity = 16) {
    this.ints = new Int32Array(capacity);
  }
  push(a: number, b: number): void {
    if (this.length + 2 > this.ints.length) {
      const n = new Int32Array(Math.max(this.length + 2, this.ints.length * 2));
      n.set(this.ints.subarray(0, this.length));
      this.ints = n;
    }
    this.ints[this.length++] = a;
    this.ints[this.length++] = b;
  }
}

/**
 * Appends one list (labels strictly ascending) to `out`, and its skip entries (label before each block after the
 * first, and the block's byte offset from the list's start) to `skips`. Returns the list's byte length.
 */
export function encodePostings(labels: ArrayLike<number>, tfs: ArrayLike<number>, n: number, out: ByteWriter, skips: IntWriter): number {
  const start = out.length;
  let prev = -1;
  for (let i = 0; i < n; i++) {
    if (i > 0 && i % BM25_BLOCK === 0) skips.push(prev, out.length - start);
    const l = labels[i];
    const tf = tfs[i];
    out.vbyte(2 * (l - prev) + (tf > 1 ? 1 : 0));
    if (tf > 1) out.vbyte(tf - 2);
    prev = l;
  }
  return out.length - start;
}

/**
 * Decodes `n` postings from `buf` at byte `pos` (the label before them: `prev`) into outL/outT from index `at`.
 * Returns the byte position after them.
 */
export function decodePostings(buf: Uint8Array, pos: number, n: number, prev: number, outL: Int32Array, outT: Uint16Array, at: number): number {
  let p = pos;
  let label = prev;
  const end = at + n;
  for (let i = at; i < end; i++) {
    let b = buf[p++];
    let v = b & 127;
    if (b > 127) {
      b = buf[p++];
      v |= (b & 127) << 7;
      if (b > 127) {
        b = buf[p++];
        v |= (b & 127) << 14;
        if (b > 127) {
          b = buf[p++];
          v |= (b & 127) << 21;
          if (b > 127) {
            b = buf[p++];
            v += (b & 127) * 268_435_456;
          }
        }
      }
    }
    label += v >= 2_147_483_648 ? Math.floor(v / 2) : v >>> 1;
    outL[i] = label;
    if ((v & 1) === 0) outT[i] = 1;
    else {
      b = buf[p++];
      let t = b & 127;
      let shift = 7;
      while (b > 127) {
        b = buf[p++];
        t |= (b & 127) << shift;
        shift += 7;
      }
      outT[i] = t + 2;
    }
  }
  return p;
}
