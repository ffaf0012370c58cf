/**
 * Benchmark for 05-incremental-indexing: bring an index of the engine's corpus grown to n chunks up to date after a
 * seeded 1% edit, by rebuilding it (before) or by updating what changed (after).
 * Run: npm run t2 -- --only 05-incremental-indexing [--quick] [--impl exercise]
 *
 * Full size: about 50,000 chunks, the largest whose three rebuilds (and the first build) fit the lab's two minutes a
 * lesson on the project's machine; LAB05_CHUNKS=100000 runs the size issue 11 names, which takes several minutes.
 *
 * Every call of a variant is one update of that variant's own index, alternately to the edited version (v0 → v1)
 * and back (v1 → v0): two 1% edits of the same size, so the index never drifts. The headline is the chunks embedded
 * per update, counted by a wrapper around the embedder on every call: the same on every machine.
 */
import { performance } from 'node:perf_hooks';
import { defineLesson, type Metric } from '../../shared/lab/lesson.ts';
import { measured } from '../../shared/lab/metric.ts';
import { createAnalyzer } from '../../shared/text/analyzer.ts';
import type { Doc, Embedder } from '../../shared/types.ts';
import * as after from './after.ts';
import * as before from './before.ts';
import { emptyIndex, type CorpusIndex, type IndexDeps } from './corpus-index.ts';
import { changedChunks, CountingAnalyzer, CountingEmbedder, editCorpus, frozenEmbedder, loadCorpus, type CorpusSize, type EditSummary } from './data.ts';

type Mod = typeof after;

interface Size extends CorpusSize {
  /** Fraction of the documents the edit touches. */
  fraction: number;
}

interface Calls {
  embedded: number[];
  analysed: number[];
  ms: number[];
}

/** One variant's index and what its calls counted. */
interface Runner {
  mod: Mod;
  deps: IndexDeps & { embedder: CountingEmbedder; analyzer: CountingAnalyzer };
  index: CorpusIndex;
  /** Which version the index holds now (0 or 1). */
  at: 0 | 1;
  calls: Calls;
}

interface Input {
  size: Size;
  versions: [Doc[], Doc[]];
  edit: EditSummary;
  corpusChunks: number;
  /** Per direction (v0 → v1, v1 → v0): chunks whose indexed text is new to their document, and chunks in the documents touched. */
  work: Array<{ changed: number; inChangedDocs: number }>;
  runners: Record<string, Runner>;
}

const HEADLINE = 'chunks embedded per update';

function newDeps(embedder: Embedder): Runner['deps'] {
  return { embedder: new CountingEmbedder(embedder), analyzer: new CountingAnalyzer(createAnalyzer()) };
}

/** One update of the variant's index to the other version, counted and timed. */
async function step(input: Input, name: string): Promise<void> {
  const r = input.runners[name];
  const to = r.at === 0 ? 1 : 0;
  const [e0, a0] = [r.deps.embedder.texts, r.deps.analyzer.texts];
  const t0 = performance.now();
  r.index = await r.mod.updateIndex(r.index, input.versions[to]);
  r.calls.ms.push(performance.now() - t0);
  r.calls.embedded.push(r.deps.embedder.texts - e0);
  r.calls.analysed.push(r.deps.analyzer.texts - a0);
  r.at = to;
}

export default defineLesson<Size, Input>({
  id: 't2/05-incremental-indexing',
  title: 'Incremental indexing: re-index everything vs re-embed only what changed',
  workload:
    'one update of a BM25 + exact dense index of the Brown corpus grown with generated documents to about n chunks, ' +
    'after a seeded edit of 1% of its documents (¼ removed, ½ changed: a paragraph appended, a word changed, the ' +
    'title or the genre changed; ¼ as many added), alternately there and back',
  sizes: {
    quick: { brownDocs: 10, chunks: 1_200, fraction: 0.01 },
    full: { brownDocs: 500, chunks: Number(process.env.LAB05_CHUNKS ?? 50_000), fraction: 0.01 },
  },
  // a rebuild of the full corpus takes tens of seconds: one measured call per variant (plus the runner's two warm-up
  // calls, which are counted too); the headline is a count, the same on every call in the same direction
  options: { rounds: 1, iterations: 1, time: 0, warmupTime: 0 },
  setup: async (size, ctx) => {
    const corpus = await loadCorpus(size, ctx.log);
    const v0 = corpus.docs;
    const { docs: v1, edit } = editCorpus(v0, { model: corpus.model, fraction: size.fraction, seed: 11 });
    ctx.log(`corpus: ${v0.length} documents; the edit: ${edit.removed.length} removed, ${Object.values(edit.changed).flat().length} changed, ${edit.added.length} added`);
    ctx.log('fitting the embedder once (it stays frozen)');
    const embedder = await frozenEmbedder(v0, ctx.log);
    const runners: Record<string, Runner> = {};
    const calls = (): Calls => ({ embedded: [], analysed: [], ms: [] });
    // before.ts rebuilds from the documents alone: it needs no index of v0 to start from
    const beforeDeps = newDeps(embedder);
    runners.before = { mod: before, deps: beforeDeps, index: emptyIndex(beforeDeps), at: 0, calls: calls() };
    const build = async (name: string, mod: Mod) => {
      ctx.log(`building ${name}'s index of v0`);
      const deps = newDeps(embedder);
      runners[name] = { mod, deps, index: await mod.buildIndex(v0, deps), at: 0, calls: calls() };
    };
    await build('after', after);
    const ex = ctx.exercise as Mod | undefined;
    if (ex) await build('exercise', ex);
    return {
      size,
      versions: [v0, v1],
      edit,
      corpusChunks: runners.after.index.bm25.size,
      work: [changedChunks(v0, v1), changedChunks(v1, v0)],
      runners,
    };
  },
  baseline: 'before',
  headline: { name: 'chunks embedded for a 1% edit', unit: 'chunks', better: 'lower', metric: HEADLINE },
  variants: {
    before: (input) => step(input, 'before'),
    after: (input) => step(input, 'after'),
  },
  exercise: (input) => step(input, 'exercise'),
  extras: (input) => {
    const metrics: Metric[] = [];
    for (const [name, r] of Object.entries(input.runners)) {
      const { calls } = r;
      if (calls.embedded.length === 0) continue; // the variant failed (an unfinished exercise): its row says why
      const v = { variant: name };
      const n = calls.embedded.length;
      metrics.push(
        measured(HEADLINE, 'chunks', calls.embedded, { ...v, note: `every call (${n}), alternately v0 → v1 and back` }),
        measured('chunks analysed per update', 'chunks', calls.analysed, { ...v, note: `every call (${n})` }),
        measured('time per update', 'ms', calls.ms, { ...v, note: `every call (${n}), warm-up included` }),
      );
    }
    const { edit, work } = input;
    const changed = Object.values(edit.changed).flat().length;
    const kinds = Object.entries(edit.changed)
      .map(([k, ids]) => `${ids.length} ${k}`)
      .join(', ');
    // the floor and the diff-by-document figure per update, in the same directions as the calls (there, back, there)
    const calls = Math.max(0, ...Object.values(input.runners).map((r) => r.calls.embedded.length));
    const perCall = (f: (w: Input['work'][number]) => number) => Array.from({ length: Math.max(2, calls) }, (_, i) => f(work[i % 2]));
    metrics.push(
      { name: 'chunks in the corpus', value: input.corpusChunks, unit: 'chunks' },
      measured('chunks whose indexed text the edit changed', 'chunks', perCall((w) => w.changed), {
        note: 'per update, same directions as the calls: the least any correct update embeds',
      }),
      measured('chunks in the documents the edit touched', 'chunks', perCall((w) => w.inChangedDocs), {
        note: 'per update: what a diff by document (Engine.ingest of the changed documents) embeds',
      }),
      {
        name: 'documents the edit touched',
        value: edit.removed.length + changed + edit.added.length,
        unit: '',
        note: `of ${edit.documents}: ${edit.removed.length} removed, ${changed} changed (${kinds}), ${edit.added.length} added`,
      },
    );
    return { metrics };
  },
});
