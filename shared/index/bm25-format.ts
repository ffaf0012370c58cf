/**
 * The on-disk format of a BM25 index (`bm25.bin` in a saved engine), version 1. Little-endian:
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
export const BM25_FORMAT_VERSION = 1;
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
