/**
 * Checkpoint for 06-delta-storage. `npm run checkpoint -- 06-delta-storage` runs it against exercise.ts; plain
 * `npx vitest run` checks before.ts and after.ts. The reference is the history itself: every text appended must come
 * back exactly.
 *
 * Data: the first 6 Brown documents, 64 versions each, made by the seeded edit model (shared/versions/edits.ts: one
 * to three word, sentence or paragraph edits per version), appended round-robin (version v of every document, then
 * v + 1), into a counting backend (shared/versions/delta-store.ts `MemoryBackend`). The costs are counted, not timed.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { loadBrown } from '../../shared/corpus/brown.ts';
import { implementations } from '../../shared/lab/checkpoint.ts';
import { formatBytes } from '../../shared/util/table.ts';
import { MemoryBackend } from '../../shared/versions/delta-store.ts';
import { createEditModel } from '../../shared/versions/edits.ts';
import { reachableBytes } from '../../shared/versions/sizeof.ts';
import { mulberry32 } from '../../shared/util/random.ts';

type Mod = typeof import('./after.ts');

const DOCS = 6;
const VERSIONS = 64;
const K = 16;
/** Bytes stored, as a share of the full copies of every version. Checkpoints alone are 1/K = 6.25%. */
const BYTES_BOUND = 0.08;

let ids: string[];
let histories: string[][];
let fullBytes: number;
let checkpointBytes: number;

beforeAll(async () => {
  const donors = await loadBrown({ limit: 40 });
  const model = createEditModel(donors, 606);
  const docs = donors.slice(0, DOCS);
  ids = docs.map((d) => d.id);
  histories = docs.map((d) => model.history(d.text, VERSIONS));
  fullBytes = 0;
  checkpointBytes = 0;
  for (const h of histories) {
    h.forEach((t, v) => {
      const b = Buffer.byteLength(t);
      fullBytes += b;
      if (v % K === 0) checkpointBytes += b;
    });
  }
});

function firstDifference(a: string, b: string): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}

describe.each(await implementations<Mod>(import.meta.url))('%s', (name, impl) => {
  let backend: MemoryBackend;
  let store: ReturnType<Mod['createStore']>;

  beforeAll(() => {
    backend = new MemoryBackend();
    store = impl.createStore({ backend, checkpointEvery: K });
    for (let v = 0; v < VERSIONS; v++) {
      ids.forEach((id, d) => expect(store.append(id, histories[d][v])).toBe(v));
    }
  });

  it('gives back every version of every document byte for byte, in any order', () => {
    const rand = mulberry32(6);
    const reads: Array<[number, number]> = [];
    for (let d = 0; d < DOCS; d++) for (let v = 0; v < VERSIONS; v++) reads.push([d, v]);
    for (let i = reads.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [reads[i], reads[j]] = [reads[j], reads[i]];
    }
    for (const [d, v] of reads) {
      const want = histories[d][v];
      const got = store.get(ids[d], v);
      if (got !== want) {
        const at = firstDifference(want, got);
        expect.fail(
          `version ${v} of ${ids[d]} did not come back byte for byte: first difference at character ${at} ` +
            `(stored ${JSON.stringify(want.slice(at, at + 24))}, got ${JSON.stringify(got.slice(at, at + 24))}); ` +
            `a version store must give back exactly what was appended, whitespace and blank lines included`,
        );
      }
    }
  });

  it('numbers the versions of each document 0, 1, 2, … and counts them', () => {
    for (const id of ids) expect(store.versions(id)).toBe(VERSIONS);
    expect(store.versions('brown/none')).toBe(0);
    const other = impl.createStore({ backend: new MemoryBackend(), checkpointEvery: K });
    expect(other.append('a', 'x')).toBe(0);
    expect(other.append('b', 'y')).toBe(0);
    expect(other.append('a', 'x y')).toBe(1);
  });

  it('refuses a version that was never appended', () => {
    expect(() => store.get(ids[0], VERSIONS)).toThrow();
    expect(() => store.get(ids[0], -1)).toThrow();
    expect(() => store.get('brown/none', 0)).toThrow();
  });

  it('keeps whitespace, blank lines, empty texts and non-ASCII text exactly', () => {
    const texts = ['', '  two  spaces\n\n\tand a tab  ', 'é, ü, 😀 and 中文', 'é, ü, 😀 and 中文', 'line\r\nbreaks\r\n', '', 'x'];
    const s = impl.createStore({ backend: new MemoryBackend(), checkpointEvery: 3 });
    texts.forEach((t) => s.append('edge', t));
    texts.forEach((t, v) => expect(JSON.stringify(s.get('edge', v)), `version ${v} of the edge cases`).toBe(JSON.stringify(t)));
  });

  // The cost, counted through the backend and by walking the store. before.ts stores full copies by design.
  describe.skipIf(name === 'before')('what the history costs', () => {
    it(`stores at most ${BYTES_BOUND * 100}% of the bytes of full copies`, () => {
      const share = backend.bytes / fullBytes;
      const deltas = DOCS * (VERSIONS - VERSIONS / K);
      const perDelta = Math.max(0, backend.bytes - checkpointBytes) / deltas;
      const perVersion = fullBytes / (DOCS * VERSIONS);
      expect(
        share,
        `stored ${(share * 100).toFixed(1)}% of the bytes of full copies (${formatBytes(backend.bytes)} of ${formatBytes(fullBytes)}), ` +
          `bound ${BYTES_BOUND * 100}%: with a full copy every ${K} versions the checkpoints alone are ${((checkpointBytes / fullBytes) * 100).toFixed(1)}%, ` +
          `and the deltas average ${Math.round(perDelta).toLocaleString('en-US')} bytes for edits of a word, a sentence or a paragraph of a ${Math.round(perVersion).toLocaleString('en-US')}-byte ` +
          `document: a delta should cost about what changed`,
      ).toBeLessThanOrEqual(BYTES_BOUND);
    });

    it(`rebuilds any version from at most ${K} records (a full copy and the deltas after it)`, () => {
      let worst = { reads: 0, id: '', v: 0 };
      for (let d = 0; d < DOCS; d++) {
        for (let v = 0; v < VERSIONS; v++) {
          backend.reads = 0;
          store.get(ids[d], v);
          if (backend.reads > worst.reads) worst = { reads: backend.reads, id: ids[d], v };
        }
      }
      expect(
        worst.reads,
        `rebuilding version ${worst.v} of ${worst.id} read ${worst.reads} records (${worst.reads - 1} deltas since the last full copy), ` +
          `bound ${K}: without a full copy every ${K} versions, reading a version costs more the longer the history is`,
      ).toBeLessThanOrEqual(K);
    });

    it('keeps about one version of each document in its own memory, the rest in the backend', () => {
      for (let d = 0; d < DOCS; d++) for (let v = 0; v < VERSIONS; v++) store.get(ids[d], v);
      const latest = histories.reduce((s, h) => s + h[h.length - 1].length, 0);
      const bound = 2 * latest + 4_096 * DOCS;
      const held = reachableBytes(store, { exclude: [backend] });
      expect(
        held,
        `the store holds ${formatBytes(held)} in its own memory besides its records, bound ${formatBytes(bound)} ` +
          `(about one version of each of the ${DOCS} documents): keeping a copy of every version in memory is the ` +
          `cost the deltas were meant to avoid, moved from the backend to the process`,
      ).toBeLessThanOrEqual(bound);
    });
  });
});
