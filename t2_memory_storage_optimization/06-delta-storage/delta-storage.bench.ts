/**
 * Benchmark for 06-delta-storage: n Brown documents, each edited over many versions by the seeded edit model
 * (shared/versions/edits.ts), stored by each variant; one call = rebuilding one (document, version) in a fixed
 * shuffled order.
 * Run: npm run t2 -- --only 06-delta-storage [--quick] [--impl exercise]
 *
 * Headline: bytes stored per version, counted through the backend (one store and one backend per document, so each
 * document gives one sample). The time per call in the tinybench table is the second figure: how long a read takes.
 */
import { performance } from 'node:perf_hooks';
import { loadBrown } from '../../shared/corpus/brown.ts';
import { defineLesson, EXERCISE, type CurvePoint, type Metric } from '../../shared/lab/lesson.ts';
import { measured } from '../../shared/lab/metric.ts';
import { mulberry32 } from '../../shared/util/random.ts';
import { medianMs } from '../../shared/util/timing.ts';
import { createDeltaStore, MemoryBackend } from '../../shared/versions/delta-store.ts';
import { dmpDiff, dmpPatchText, lineDiff, makeDelta, wordDiff } from '../../shared/versions/diff.ts';
import { createEditModel } from '../../shared/versions/edits.ts';
import * as after from './after.ts';
import * as before from './before.ts';
import type { StoreOptions, VersionStore } from './types.ts';
import { createDeltasFromCheckpoint } from './variants.ts';

type Mod = typeof after;

interface Size {
  docs: number;
  versions: number;
}

const K = after.CHECKPOINT_EVERY;
const HEADLINE = 'bytes stored per version';

/** A store of one document: its backend, and what building it cost. */
interface Built {
  store: VersionStore;
  backend: MemoryBackend;
  appendMs: number;
}

interface Input {
  size: Size;
  ids: string[];
  histories: string[][];
  /** Bytes of every version kept whole, per document. */
  fullBytes: number[];
  stores: Record<string, Built[]>;
  /** The (document, version) reads in order, the same for every variant. */
  reads: Array<[number, number]>;
  cursor: Record<string, number>;
}

const FROM_CHECKPOINT = `dmp, deltas from the checkpoint, K = ${K}`;

const makers: Record<string, (opts: StoreOptions) => VersionStore> = {
  before: before.createStore,
  [`line diff, K = ${K}`]: (o) => createDeltaStore({ ...o, diff: lineDiff }),
  [`word diff, K = ${K}`]: (o) => createDeltaStore({ ...o, diff: wordDiff }),
  [FROM_CHECKPOINT]: createDeltasFromCheckpoint,
  'dmp, no checkpoint after version 0': (o) => createDeltaStore({ ...o, checkpointEvery: Number.MAX_SAFE_INTEGER, diff: dmpDiff }),
  after: after.createStore,
};

/**
 * Documents the deltas-from-the-checkpoint variant stores: a diff across up to 15 versions' edits takes
 * diff-match-patch tens of milliseconds (the chained ones a fraction of one), so it gets a few documents only.
 */
const FROM_CHECKPOINT_DOCS = { quick: 2, full: 3 };

function build(make: (opts: StoreOptions) => VersionStore, input: Pick<Input, 'ids' | 'histories'>, k = K): Built[] {
  return input.ids.map((id, d) => {
    const backend = new MemoryBackend();
    const store = make({ backend, checkpointEvery: k });
    const t0 = performance.now();
    for (const text of input.histories[d]) store.append(id, text);
    return { store, backend, appendMs: (performance.now() - t0) / input.histories[d].length };
  });
}

/** The next read of the shared sequence; a variant that stores fewer documents reads document d mod its count. */
function read(input: Input, variant: string): string {
  const i = input.cursor[variant] ?? 0;
  input.cursor[variant] = i + 1;
  const built = input.stores[variant];
  const [dd, v] = input.reads[i % input.reads.length];
  const d = dd % built.length;
  return built[d].store.get(input.ids[d], v);
}

export default defineLesson<Size, Input>({
  id: 't2/06-delta-storage',
  title: 'Delta storage: a full copy of every version vs deltas with a checkpoint every K versions',
  workload:
    'n Brown documents × v versions from a seeded edit model (1–3 word, sentence or paragraph edits per version); ' +
    'one call rebuilds one (document, version), all of them in a fixed shuffled order',
  sizes: { quick: { docs: 6, versions: 32 }, full: { docs: 24, versions: 128 } },
  setup: async (size, ctx) => {
    ctx.log(`loading Brown and editing ${size.docs} documents over ${size.versions} versions`);
    const donors = await loadBrown({ limit: Math.max(40, size.docs) });
    const model = createEditModel(donors, 606);
    const docs = donors.slice(0, size.docs);
    const ids = docs.map((d) => d.id);
    const histories = docs.map((d) => model.history(d.text, size.versions));
    const fullBytes = histories.map((h) => h.reduce((s, t) => s + Buffer.byteLength(t), 0));
    const stores: Record<string, Built[]> = {};
    for (const [name, make] of Object.entries(makers)) {
      ctx.log(`storing with ${name}`);
      const n = name === FROM_CHECKPOINT ? Math.min(size.docs, FROM_CHECKPOINT_DOCS[ctx.mode]) : size.docs;
      stores[name] = build(make, { ids: ids.slice(0, n), histories: histories.slice(0, n) });
    }
    const ex = ctx.exercise as Mod | undefined;
    if (ex) stores[EXERCISE] = build(ex.createStore, { ids, histories });
    const reads: Array<[number, number]> = [];
    for (let d = 0; d < size.docs; d++) for (let v = 0; v < size.versions; v++) reads.push([d, v]);
    const rand = mulberry32(66);
    for (let i = reads.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [reads[i], reads[j]] = [reads[j], reads[i]];
    }
    return { size, ids, histories, fullBytes, stores, reads, cursor: {} };
  },
  baseline: 'before',
  headline: { name: 'bytes stored per version', unit: 'bytes', better: 'lower', metric: HEADLINE },
  variants: Object.fromEntries(Object.keys(makers).map((name) => [name, (input: Input) => read(input, name)])),
  exercise: (input) => read(input, EXERCISE),
  extras: (input, ctx) => {
    const metrics: Metric[] = [];
    const { docs, versions } = input.size;
    const meanFull = input.fullBytes.reduce((a, b) => a + b, 0) / (docs * versions);
    for (const [name, built] of Object.entries(input.stores)) {
      const v = { variant: name };
      const perVersion = built.map((b) => b.backend.bytes / versions);
      const which = built.length < docs ? `the first ${built.length} documents only (slow to diff)` : 'one sample per document';
      metrics.push(
        measured(HEADLINE, 'bytes', perVersion, { ...v, note: `a version kept whole is ${Math.round(meanFull).toLocaleString('en-US')} bytes; ${which}` }),
        measured('share of full copies', '%', built.map((b, d) => (100 * b.backend.bytes) / input.fullBytes[d]), v),
      );
      // records read to rebuild each version: counted, the same on every machine
      const reads: number[] = [];
      try {
        built.forEach((b, d) => {
          for (let ver = 0; ver < versions; ver++) {
            b.backend.reads = 0;
            b.store.get(input.ids[d], ver);
            reads.push(b.backend.reads);
          }
        });
        metrics.push(measured('records read to rebuild a version', '', reads, { ...v, note: `max ${Math.max(...reads)}, over every version` }));
      } catch (err) {
        ctx.log(`${name}: reading every version failed: ${(err as Error).message}`);
      }
      metrics.push(measured('time to store a version (diff + encode)', 'ms', built.map((b) => b.appendMs), { ...v, note: 'mean per document' }));
    }
    // one delta alone: after's binary COPY/SKIP/ADD against diff-match-patch's own patch text (context, URI-encoded)
    const binary: number[] = [];
    const patchText: number[] = [];
    for (const h of input.histories.slice(0, 4)) {
      for (let ver = 1; ver < h.length; ver++) {
        binary.push(makeDelta(h[ver - 1], h[ver], dmpDiff).length);
        patchText.push(Buffer.byteLength(dmpPatchText(h[ver - 1], h[ver])));
      }
    }
    metrics.push(
      measured('one delta (COPY/SKIP/ADD)', 'bytes', binary, { variant: 'after', note: 'from the version before; mean over every version of up to 4 documents' }),
      measured('one delta as patch_toText', 'bytes', patchText, { variant: 'after', note: "diff-match-patch's own text patch format, same diffs" }),
    );

    // bytes and rebuild time against K, on up to 4 documents
    const sample = { ids: input.ids.slice(0, 4), histories: input.histories.slice(0, 4) };
    const bytesPoints: CurvePoint[] = [];
    const timePoints: CurvePoint[] = [];
    const ks = [1, 2, 4, 8, 16, 32, 64, 128].filter((k) => k <= versions);
    for (const k of ks) {
      ctx.log(`K = ${k}`);
      const built = build(after.createStore, sample, k);
      const bytes = built.reduce((s, b) => s + b.backend.bytes, 0) / (sample.ids.length * versions);
      const ms = medianMs((i) => {
        const d = i % sample.ids.length;
        built[d].store.get(sample.ids[d], Math.floor(i / sample.ids.length) % (versions - 1));
      }, ctx.mode === 'quick' ? 60 : 400, 10);
      bytesPoints.push({ series: 'after (dmp)', x: k, y: bytes, label: `K=${k}` });
      timePoints.push({ series: 'after (dmp)', x: k, y: ms, label: `K=${k}` });
    }
    return {
      metrics,
      curves: [
        { id: 'bytes-vs-k', title: 'Bytes stored per version against the checkpoint interval K', xLabel: 'K (versions per full copy)', yLabel: 'bytes per version', xLog: true, points: bytesPoints },
        { id: 'rebuild-vs-k', title: 'Time to rebuild a version against K (median)', xLabel: 'K (versions per full copy)', yLabel: 'ms per rebuild', xLog: true, points: timePoints },
      ],
    };
  },
});
