/**
 * Checkpoint for 07-versions. `npm run checkpoint -- 07-versions` runs it against exercise.ts; plain `npx vitest run`
 * checks before.ts and after.ts. The reference for a query as of version v is the engine itself (`createEngine`, exact
 * flat vectors, dense mode) built from version v's documents alone; for a document, the replayed list of writes.
 *
 * Data (data.ts): 8 Brown documents ingested by version 1, then 35 writes (edits by the seeded edit model, a few
 * added and deleted documents), the same embedder (SIF over GloVe, fitted once on version 1) for everyone. The costs
 * are counted: texts embedded (through a counting embedder) and bytes the history keeps (by walking it,
 * shared/versions/sizeof.ts), never timed.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { loadBrown } from '../../shared/corpus/brown.ts';
import { chunkDocument, indexText } from '../../shared/corpus/chunk.ts';
import { createDefaultEmbedder, type SifEmbedder } from '../../shared/embed/sif.ts';
import { createEngine } from '../../shared/engine.ts';
import { implementations } from '../../shared/lab/checkpoint.ts';
import type { Doc, Embedder } from '../../shared/types.ts';
import { formatBytes } from '../../shared/util/table.ts';
import { reachableBytes } from '../../shared/versions/sizeof.ts';
import { planHistory, statesOf } from './data.ts';
import type { AsOfHit, VersionedIndex, WriteOp } from './types.ts';

type Mod = typeof import('./after.ts');

const DOCS = 8;
const WRITES = 36;
const K = 5;
const QUERIES = ['jury investigation of the election', 'the governor and the state legislature', 'baseball game and the players', 'church, religion and faith'];
/** Versions whose as-of answers are compared with an engine built from them. */
const CHECKED = [0, 1, 2, 5, 9, 13, 18, 22, 27, 31, 35, 36];
/** A version may keep at most this share of one document's whole state (see the bytes test). */
const BYTES_PER_VERSION_BOUND = 0.5;

let sif: SifEmbedder;
let ops: WriteOp[];
let states: Array<Map<string, Doc>>;
let allIds: string[];
/** Bytes of one document's text, chunks and vectors (mean over version 1). */
let perDoc: number;

/** An embedder that counts the texts it embeds. No `fit`: nobody refits the shared SIF state. */
interface CountingEmbedder extends Embedder {
  texts: number;
}
function counting(): CountingEmbedder {
  const e: CountingEmbedder = {
    name: sif.name,
    dim: sif.dim,
    texts: 0,
    async embed(texts: string[]) {
      e.texts += texts.length;
      return sif.embed(texts);
    },
  };
  return e;
}

beforeAll(async () => {
  const pool = await loadBrown({ limit: 30 });
  sif = await createDefaultEmbedder();
  await sif.fit(pool.slice(0, DOCS).flatMap((d) => chunkDocument(d)).map(indexText));
  ops = planHistory(pool, { docs: DOCS, writes: WRITES, seed: 707 });
  states = statesOf(ops);
  allIds = [...new Set(states.flatMap((s) => [...s.keys()]))].sort();
  // one document's whole state, on average over version 1: its text, its chunks' texts, their vectors
  let bytes = 0;
  for (const d of states[1].values()) {
    bytes += Buffer.byteLength(d.text);
    for (const c of chunkDocument(d)) bytes += Buffer.byteLength(c.text) + sif.dim * 4;
  }
  perDoc = bytes / states[1].size;
});

/** What an engine built from `docs` alone returns for each query (dense, exact), cached per version. */
const engineCache = new Map<string, AsOfHit[][]>();
async function engineHits(key: string, docs: Doc[]): Promise<AsOfHit[][]> {
  const cached = engineCache.get(key);
  if (cached) return cached;
  const engine = await createEngine({ embedder: counting(), vector: { kind: 'flat' }, llm: null });
  if (docs.length > 0) await engine.ingest(docs);
  const out: AsOfHit[][] = [];
  for (const q of QUERIES) {
    const r = await engine.query(q, { mode: 'dense', k: K, answer: false });
    out.push(r.hits.map((h) => ({ chunkId: h.chunkId, docId: h.docId, position: h.position, text: h.text, score: h.score })));
  }
  engineCache.set(key, out);
  return out;
}

const describeHit = (h: AsOfHit) => `chunk ${h.chunkId} of ${h.docId} (position ${h.position})`;

/** undefined when `got` equals `want` (same chunks in the same order, scores within 1e-6), else what differs. */
function difference(got: AsOfHit[], want: AsOfHit[], docs: Doc[], v: number | string): string | undefined {
  const ids = new Set(docs.flatMap((d) => chunkDocument(d)).map((c) => c.id));
  const alien = got.find((h) => !ids.has(h.chunkId));
  if (alien) return `returned ${describeHit(alien)}, which version ${v} does not contain`;
  for (let i = 0; i < Math.max(got.length, want.length); i++) {
    const g = got[i];
    const w = want[i];
    if (!g) return `returned ${got.length} hits, an engine built from version ${v} alone returns ${want.length}`;
    if (!w) return `returned ${got.length} hits, an engine built from version ${v} alone returns ${want.length}`;
    if (g.chunkId !== w.chunkId || g.docId !== w.docId || g.position !== w.position || g.text !== w.text) {
      return `rank ${i + 1} is ${describeHit(g)}; an engine built from version ${v} alone has ${describeHit(w)} there`;
    }
    if (Math.abs(g.score - w.score) > 1e-6) return `rank ${i + 1} scores ${g.score}, the engine ${w.score}`;
  }
  return undefined;
}

async function expectLikeEngine(h: VersionedIndex, asOf: number, docs: Map<string, Doc>, label: number | string): Promise<void> {
  const want = await engineHits(String(label), [...docs.values()]);
  for (let qi = 0; qi < QUERIES.length; qi++) {
    const got = await h.query(QUERIES[qi], { asOf, k: K });
    const diff = difference(got, want[qi], [...docs.values()], label);
    if (diff) expect.fail(`as of version ${asOf}, "${QUERIES[qi]}" ${diff}`);
  }
}

async function build(impl: Mod, embedder: Embedder, upTo = ops.length): Promise<VersionedIndex> {
  const h = impl.createHistory({ embedder });
  for (let i = 0; i < upTo; i++) expect(await h.apply(ops[i])).toBe(i + 1);
  return h;
}

function expectDocument(h: VersionedIndex, id: string, v: number, want: Doc | undefined, at: number | string = v): void {
  const got = h.document(id, v);
  if (!want) {
    if (got) expect.fail(`document ${id} as of version ${v} exists, but it did not exist at version ${at}`);
    return;
  }
  if (!got) expect.fail(`document ${id} as of version ${v} is missing; it existed at version ${at}`);
  if (got.text !== want.text) expect.fail(`document ${id} as of version ${v} is not its text at version ${at}`);
  expect({ title: got.title, metadata: got.metadata }).toEqual({ title: want.title, metadata: want.metadata });
}

describe.each(await implementations<Mod>(import.meta.url))('%s', (name, impl) => {
  let history: VersionedIndex;
  beforeAll(async () => {
    history = await build(impl, counting());
  }, 120_000);

  it('numbers versions like the write path: 0 empty, one more per write', () => {
    expect(history.version).toBe(WRITES);
  });

  it('answers as of every version what an engine built from that version alone answers', async () => {
    for (const v of CHECKED) await expectLikeEngine(history, v, states[v], v);
  });

  it('gives every document as it was at every version', () => {
    for (let v = 0; v <= WRITES; v++) for (const id of allIds) expectDocument(history, id, v, states[v].get(id));
  });

  it('refuses versions that do not exist', async () => {
    await expect(history.query(QUERIES[0], { asOf: WRITES + 1 })).rejects.toThrow();
    await expect(history.query(QUERIES[0], { asOf: -1 })).rejects.toThrow();
    await expect(history.query(QUERIES[0], { asOf: 1.5 })).rejects.toThrow();
    expect(() => history.document(allIds[0], WRITES + 1)).toThrow();
    await expect(history.rollback(WRITES + 1)).rejects.toThrow();
    expect(history.version).toBe(WRITES);
  });

  it('rolls back by writing a new version equal to the old one; every version before keeps its answers', async () => {
    const h = await build(impl, counting());
    const to = 13;
    const kept = [1, to, 22, WRITES];
    const before = new Map<number, AsOfHit[]>();
    for (const v of kept) before.set(v, await h.query(QUERIES[0], { asOf: v, k: K }));
    const w = await h.rollback(to);
    expect(
      w,
      `rollback to version ${to} returned version ${w}, the latest was ${WRITES}: a rollback writes a new version ` +
        `(${WRITES + 1}) equal to version ${to}; versions ${to + 1} … ${WRITES} stay in the history`,
    ).toBe(WRITES + 1);
    expect(h.version).toBe(WRITES + 1);
    for (const v of kept) {
      const again = await h.query(QUERIES[0], { asOf: v, k: K });
      if (JSON.stringify(again) !== JSON.stringify(before.get(v))) {
        expect.fail(`after the rollback to version ${to}, version ${v} no longer answers as it did: a rollback must not change the past`);
      }
    }
    await expectLikeEngine(h, w, states[to], to);
    for (const id of allIds) expectDocument(h, id, w, states[to].get(id), to);
    // writing goes on from the restored state
    const doc = [...states[to].values()][0];
    const edit: WriteOp = { kind: 'ingest', docs: [{ ...doc, text: `${doc.text}\n\nA paragraph written after the rollback.` }] };
    expect(await h.apply(edit)).toBe(WRITES + 2);
    const after = statesOf([...ops.slice(0, to), edit])[to + 1];
    await expectLikeEngine(h, WRITES + 2, after, `${to} + one edit`);
    // to the empty index, and to the latest version (which changes nothing but the number)
    expect(await h.rollback(0)).toBe(WRITES + 3);
    expect(await h.query(QUERIES[0], { k: K })).toEqual([]);
    expect(await h.rollback(WRITES + 2)).toBe(WRITES + 4);
    await expectLikeEngine(h, WRITES + 4, after, `${to} + one edit`);
  });

  // The cost of the history, counted. before.ts keeps a copy of the index per version by design, so it is exempt.
  describe.skipIf(name === 'before')('what the history costs', () => {
    it('a version costs what it changed, not a copy of the index', async () => {
      const embedder = counting();
      const h = impl.createHistory({ embedder });
      await h.apply(ops[0]);
      const first = reachableBytes(h, { exclude: [embedder] });
      for (let i = 1; i < ops.length; i++) await h.apply(ops[i]);
      const all = reachableBytes(h, { exclude: [embedder] });
      // what was embedded while writing must be kept somewhere the walk can see (nothing is embedded again later)
      const embeddedBytes = embedder.texts * sif.dim * 4;
      expect(
        all,
        `the history holds ${formatBytes(all)} where the walk can see it, less than the ${formatBytes(embeddedBytes)} of vectors ` +
          `it embedded: keep its state in the object's properties (a closure cannot be counted)`,
      ).toBeGreaterThanOrEqual(embeddedBytes);
      const perVersion = (all - first) / (ops.length - 1);
      expect(
        perVersion,
        `each version kept ${formatBytes(perVersion)}, ${(perVersion / perDoc).toFixed(2)}× one whole document ` +
          `(${formatBytes(perDoc)}: its text, its chunks and their vectors), bound ${BYTES_PER_VERSION_BOUND}×: a write ` +
          `changes one or two documents, and mostly a few of their chunks, so a version should keep what it changed, ` +
          `not a copy of the index`,
      ).toBeLessThanOrEqual(BYTES_PER_VERSION_BOUND * perDoc);
    });

    it('a query as of an old version embeds its own text and nothing else', async () => {
      const embedder = counting();
      const h = await build(impl, embedder);
      for (const v of [3, 17, 30]) {
        embedder.texts = 0;
        await h.query(QUERIES[1], { asOf: v, k: K });
        expect(
          embedder.texts,
          `a query as of version ${v} embedded ${embedder.texts} texts: it rebuilt the index of version ${v} from the ` +
            `history; keep every version searchable, so an as-of query costs one query`,
        ).toBe(1);
      }
    });

    it('a rollback embeds nothing: the old version’s chunks are still in the history', async () => {
      const embedder = counting();
      const h = await build(impl, embedder);
      for (const to of [30, 9, 2]) {
        embedder.texts = 0;
        await h.rollback(to);
        expect(
          embedder.texts,
          `rollback to version ${to} embedded ${embedder.texts} chunks: every chunk of version ${to} is still in the ` +
            `history; a rollback makes them current again instead of embedding them again`,
        ).toBe(0);
      }
    });
  });
});
