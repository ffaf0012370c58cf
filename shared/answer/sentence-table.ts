import { readFile } from 'node:fs/promises';
import { RagError } from '../errors.ts';
import type { Analyzer } from '../text/analyzer.ts';
import { sentenceSpans } from '../text/sentences.ts';

/**
 * Precomputed sentence analysis for extractive answers: for every chunk, where its sentences are and which distinct
 * analysed terms each one holds. Splitting and analysing the top hits' text at query time was most of an answer's
 * cost; with the table an answer only compares small integer lists (the measured difference: shared/serve/README.md).
 *
 * One packed Int32Array per label: [n, start0, end0, …, start(n-1), end(n-1), off0, …, off(n), termIds…], where
 * sentence i spans text[start_i, end_i) and holds the term ids termIds[off_i .. off(i+1)) (distinct, ids into the
 * table's own vocabulary). Filled when chunks are ingested, saved beside the index (`sentences.bin`), and computed on
 * first use for labels it does not hold (an index saved before the table existed).
 */
export class SentenceTable {
  private readonly rows: (Int32Array | undefined)[] = [];
  private readonly vocab = new Map<string, number>();
  private readonly words: string[] = [];

  /** Term id of an analysed term, or undefined if no indexed sentence holds it. */
  termId(term: string): number | undefined {
    return this.vocab.get(term);
  }

  has(label: number): boolean {
    return this.rows[label] !== undefined;
  }

  /** Analyses `text` and stores it under `label` (replacing what was there). */
  add(label: number, text: string, analyzer: Analyzer): Int32Array {
    const spans = sentenceSpans(text);
    const n = spans.length / 2;
    const terms: number[] = [];
    const offsets: number[] = [0];
    const seen = new Set<number>();
    for (let i = 0; i < n; i++) {
      seen.clear();
      for (const t of analyzer.analyze(text.slice(spans[2 * i], spans[2 * i + 1]))) {
        let id = this.vocab.get(t);
        if (id === undefined) {
          id = this.words.push(t) - 1;
          this.vocab.set(t, id);
        }
        if (!seen.has(id)) {
          seen.add(id);
          terms.push(id);
        }
      }
      offsets.push(terms.length);
    }
    const row = new Int32Array(1 + 2 * n + (n + 1) + terms.length);
    row[0] = n;
    row.set(spans, 1);
    row.set(offsets, 1 + 2 * n);
    row.set(terms, 2 + 3 * n);
    this.rows[label] = row;
    return row;
  }

  /** The row of `label`, analysing `text` first if the table does not hold it. */
  row(label: number, text: string, analyzer: Analyzer): Int32Array {
    return this.rows[label] ?? this.add(label, text, analyzer);
  }

  remove(label: number): void {
    this.rows[label] = undefined;
  }

  /** The row of `label`, which the table then forgets (the engine moves it to its chunk store at commit). */
  take(label: number): Int32Array | undefined {
    const row = this.rows[label];
    this.rows[label] = undefined;
    return row;
  }

  /**
   * Bytes held, counted from the structures: the rows' typed arrays (each backing buffer once: a loaded table's rows
   * are views into one buffer), the row slots, the vocabulary's characters. For npm run bench:memory.
   */
  memory(): { part: string; bytes: number; how: string }[] {
    const buffers = new Set<ArrayBufferLike>();
    let rows = 0;
    let n = 0;
    for (const r of this.rows) {
      if (r === undefined) continue;
      n++;
      if (r.byteLength === r.buffer.byteLength) rows += r.byteLength;
      else if (!buffers.has(r.buffer)) {
        buffers.add(r.buffer);
        rows += r.buffer.byteLength;
      }
    }
    let chars = 0;
    for (const w of this.words) chars += w.length;
    return [
      { part: 'rows', bytes: rows, how: `${n} rows, int32 (sentence spans, offsets, term ids)` },
      { part: 'row slots', bytes: this.rows.length * 8, how: 'one array slot (pointer) per label' },
      { part: 'vocabulary', bytes: chars, how: `${this.words.length} terms, characters (+ a Map entry each)` },
    ];
  }

  /**
   * Binary image: "RSEN", format 1, a u32 byte length and a JSON header (vocabulary), zero padding to 4 bytes, then
   * Int32 words: count, then per row: label, length, row.
   */
  serialize(): Uint8Array {
    const header = new TextEncoder().encode(JSON.stringify({ vocab: this.words }));
    const headerEnd = 12 + header.length;
    const bodyStart = Math.ceil(headerEnd / 4) * 4;
    let words = 1;
    let count = 0;
    for (const r of this.rows) {
      if (r) {
        words += 2 + r.length;
        count++;
      }
    }
    const out = new Uint8Array(bodyStart + 4 * words);
    out.set([0x52, 0x53, 0x45, 0x4e], 0);
    const dv = new DataView(out.buffer);
    dv.setUint32(4, 1, true);
    dv.setUint32(8, header.length, true);
    out.set(header, 12);
    const body = new Int32Array(out.buffer, bodyStart, words);
    body[0] = count;
    let at = 1;
    this.rows.forEach((r, label) => {
      if (!r) return;
      body[at++] = label;
      body[at++] = r.length;
      body.set(r, at);
      at += r.length;
    });
    return out;
  }

  static deserialize(bytes: Uint8Array, source = 'sentences.bin'): SentenceTable {
    const corrupt = (why: string) => new RagError('CORRUPT', `${source}: ${why}`);
    if (bytes.length < 16 || bytes[0] !== 0x52 || bytes[1] !== 0x53 || bytes[2] !== 0x45 || bytes[3] !== 0x4e) {
      throw corrupt('not a sentence table');
    }
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (dv.getUint32(4, true) !== 1) throw corrupt(`unknown format ${dv.getUint32(4, true)}`);
    const headerLen = dv.getUint32(8, true);
    if (12 + headerLen > bytes.length) throw corrupt('truncated header');
    let header: { vocab: string[] };
    try {
      header = JSON.parse(new TextDecoder().decode(bytes.subarray(12, 12 + headerLen)));
    } catch {
      throw corrupt('header is not JSON');
    }
    const bodyStart = Math.ceil((12 + headerLen) / 4) * 4;
    // copy so the Int32 view is aligned whatever the Buffer's offset
    const body = new Int32Array(bytes.slice(bodyStart).buffer);
    const table = new SentenceTable();
    header.vocab.forEach((w, i) => {
      table.words.push(w);
      table.vocab.set(w, i);
    });
    let at = 1;
    for (let i = 0; i < body[0]; i++) {
      if (at + 2 > body.length) throw corrupt('truncated rows');
      const label = body[at];
      const len = body[at + 1];
      at += 2;
      if (label < 0 || len < 1 || at + len > body.length) throw corrupt(`bad row ${i}`);
      table.rows[label] = body.subarray(at, at + len); // views into one buffer: no 100k small copies at load
      at += len;
    }
    return table;
  }

  static async load(file: string): Promise<SentenceTable> {
    return SentenceTable.deserialize(new Uint8Array(await readFile(file)), file);
  }
}
