/**
 * Checkpoint for 05-incremental-indexing. `npm run checkpoint -- 05-incremental-indexing` runs it against
 * exercise.ts; plain `npx vitest run` checks before.ts and after.ts. The reference is before.ts's build: an index made
 * from scratch out of the new version of the corpus. An update must leave an index that answers exactly as that one
 * does, and (the lesson's point) cost only the chunks whose indexed text changed, counted by wrapping the embedder and
 * the analyzer: a count, not a time.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { chunkDocument } from '../../shared/corpus/chunk.ts';
import { implementations } from '../../shared/lab/checkpoint.ts';
import { createAnalyzer } from '../../shared/text/analyzer.ts';
import type { Doc, Embedder } from '../../shared/types.ts';
import * as reference from './before.ts';
import type { CorpusIndex, Hit, IndexDeps, SearchMode } from './corpus-index.ts';
import { changedChunks, CountingAnalyzer, CountingEmbedder, editCorpus, frozenEmbedder, loadCorpus, rewordMiddle, type Corpus } from './data.ts';

type Mod = typeof import('./after.ts');

const K = 10;
const MODES: SearchMode[] = ['bm25', 'dense'];
const GENERAL = ['the jury said the election was conducted', 'hospital patients and nurses', 'tax bill in the legislature', 'baseball game season', 'the old man walked home'];

let corpus: Corpus;
let frozen: Embedder;
let v0: Doc[];
/** The hand-made edit: one document of each kind of change, plus a removal, an addition and a repeated id. */
let v1: Doc[];
let touched: { appended: Doc; reworded: Doc; retitled: Doc; relabelled: Doc; removed: Doc; added: Doc };

beforeAll(async () => {
  corpus = await loadCorpus({ brownDocs: 16, chunks: 320 });
  frozen = await frozenEmbedder(corpus.docs);
  v0 = corpus.docs;
  const [a, r, t, l, x] = [v0[1], v0[2], v0[3], v0[4], v0[5]];
  touched = {
    appended: { ...a, text: `${a.text}\n\nThe committee met again on Friday and approved the new budget for the county schools.` },
    reworded: { ...r, text: rewordMiddle(r.text, 'zeppelin') },
    retitled: { ...t, title: `${t.title} revised edition` },
    relabelled: { ...l, metadata: { ...l.metadata, genre: 'relabelled' } },
    removed: x,
    added: { id: 'new/1', title: 'fresh arrival', text: 'A zeppelin landed near the county fair. The crowd cheered as the airship settled on the field.', metadata: { genre: 'news' } },
  };
  const swap = new Map<string, Doc>([a, r, t, l].map((d, i) => [d.id, [touched.appended, touched.reworded, touched.retitled, touched.relabelled][i]]));
  v1 = v0.filter((d) => d.id !== x.id).map((d) => swap.get(d.id) ?? d);
  // a repeated id: an edited copy first, then the original (the last version wins, so v0[6] is unchanged)
  v1.splice(7, 0, { ...v0[6], text: 'a version that loses' });
  v1.push(touched.added);
});

const deps = (): IndexDeps & { embedder: CountingEmbedder; analyzer: CountingAnalyzer } => ({
  embedder: new CountingEmbedder(frozen),
  analyzer: new CountingAnalyzer(createAnalyzer()),
});

/** Queries that reach the documents an edit touched (titles, opening words, middles) and some general ones. */
function queriesFor(docs: readonly Doc[]): string[] {
  const out = [...GENERAL];
  for (const d of docs) {
    const words = d.text.split(/\s+/);
    const mid = Math.floor(words.length / 2);
    out.push(d.title ?? d.id, words.slice(0, 12).join(' '), words.slice(mid - 6, mid + 6).join(' '), words.slice(-12).join(' '));
  }
  return out;
}

const stored = (h: Hit) => JSON.stringify([h.chunkId, h.docId, h.position, h.title ?? null, h.metadata]);

/**
 * How `got` differs from `want`, or undefined. Equal scores may come in either order, and which of several chunks
 * tied at the k-th score makes the cut is not specified (it depends on labels), so a tie group is compared as a set
 * and the group at the cut by its scores only.
 */
function difference(got: Hit[], want: Hit[]): string | undefined {
  if (got.length !== want.length) return `${got.length} hits where the rebuild has ${want.length}`;
  for (let i = 0; i < want.length; i++) {
    if (got[i].score !== want[i].score) {
      return `rank ${i + 1} is ${got[i].docId} #${got[i].position} scoring ${got[i].score}, the rebuild has ${want[i].docId} #${want[i].position} scoring ${want[i].score}`;
    }
  }
  for (let i = 0; i < want.length; ) {
    let j = i;
    while (j < want.length && want[j].score === want[i].score) j++;
    const atCut = j === want.length && want.length === K;
    if (!atCut) {
      const g = got.slice(i, j).map(stored).sort();
      const w = want.slice(i, j).map(stored).sort();
      for (let n = 0; n < w.length; n++) if (g[n] !== w[n]) return `at rank ${i + 1} it returns ${g[n]}, the rebuild ${w[n]}`;
    }
    i = j;
  }
  return undefined;
}

/** The reference build of each corpus version, made once (searching does not change an index). */
const rebuilds = new WeakMap<readonly Doc[], Promise<CorpusIndex>>();
function rebuilt(docs: readonly Doc[]): Promise<CorpusIndex> {
  let index = rebuilds.get(docs);
  if (index === undefined) rebuilds.set(docs, (index = reference.buildIndex(docs, deps())));
  return index;
}

async function expectSameAnswers(index: CorpusIndex, mod: Mod, docs: readonly Doc[], queries: string[], when: string): Promise<void> {
  const want = await rebuilt(docs);
  for (const q of queries) {
    for (const mode of MODES) {
      const diff = difference(await mod.search(index, q, K, mode), await reference.search(want, q, K, mode));
      expect(diff, `${when}, "${q}" (${mode}): ${diff}; the index does not answer as a rebuild of the same corpus`).toBeUndefined();
    }
  }
}

describe.each(await implementations<Mod>(import.meta.url))('%s', (name, impl) => {
  /** v0 built, then updated to v1: made once, only searched by the tests that share it. */
  let shared: Promise<CorpusIndex> | undefined;
  const updatedToV1 = async () => (shared ??= impl.buildIndex(v0, deps()).then((index) => impl.updateIndex(index, v1)));

  it('builds an index that answers as a plain build does', async () => {
    const index = await impl.buildIndex(v0, deps());
    await expectSameAnswers(index, impl, v0, queriesFor(v0.slice(0, 8)), 'after the first build');
  });

  it('after an edit, answers exactly as a full rebuild of the new version', async () => {
    const index = await updatedToV1();
    await expectSameAnswers(index, impl, v1, queriesFor(Object.values(touched)), 'after the update');
  });

  it('a removed document no longer answers', async () => {
    const index = await updatedToV1();
    const gone = touched.removed.id;
    for (const q of queriesFor([touched.removed])) {
      for (const mode of MODES) {
        const hits = await impl.search(index, q, K, mode);
        const stale = hits.filter((h) => h.docId === gone).length;
        expect(stale, `removed document ${gone} still answers queries: ${stale} of the ${mode} hits for "${q}"`).toBe(0);
      }
    }
  });

  it('a retitled document is searched and returned under its new title', async () => {
    const index = await updatedToV1();
    const { id, title } = touched.retitled;
    const hits = (await impl.search(index, title!, 50, 'bm25')).filter((h) => h.docId === id);
    const old = hits.filter((h) => h.title !== title);
    expect(hits.length, `document ${id} was retitled "${title}", and a search for that title finds none of its chunks`).toBeGreaterThan(0);
    expect(old.length, `document ${id} was retitled "${title}": ${old.length} of its hits still carry "${old[0]?.title}"`).toBe(0);
  });

  it('a relabelled document is returned with its new metadata', async () => {
    const index = await updatedToV1();
    const { id, metadata } = touched.relabelled;
    const hits = (await impl.search(index, touched.relabelled.text.split(/\s+/).slice(0, 30).join(' '), 50, 'bm25')).filter((h) => h.docId === id);
    expect(hits.length).toBeGreaterThan(0);
    for (const h of hits) expect(h.metadata, `document ${id} was relabelled, its hit #${h.position} still carries the old metadata`).toEqual(metadata);
  });

  it('stays exact over successive updates, and back to the first version', async () => {
    const { docs: v2 } = editCorpus(v1, { model: corpus.model, fraction: 0.1, seed: 5 });
    let index = await impl.buildIndex(v0, deps());
    for (const [docs, label] of [[v1, 'v0 → v1'], [v2, 'v1 → v2'], [v0, 'v2 → v0']] as const) {
      index = await impl.updateIndex(index, docs);
      await expectSameAnswers(index, impl, docs, [...GENERAL, ...queriesFor(docs.slice(0, 6))], `after the update ${label}`);
    }
  });

  it('an update to an empty corpus leaves nothing to find; an update from one builds it', async () => {
    const empty = await impl.updateIndex(await impl.buildIndex(v0.slice(0, 5), deps()), []);
    for (const mode of MODES) {
      const left = (await impl.search(empty, GENERAL[0], K, mode)).map((h) => h.docId);
      expect(left, `an update to an empty corpus left ${left.length} ${mode} hits (${left.slice(0, 3).join(', ')}…): removed documents still answer queries`).toEqual([]);
    }
    const index = await impl.updateIndex(empty, v0.slice(0, 5));
    await expectSameAnswers(index, impl, v0.slice(0, 5), queriesFor(v0.slice(0, 3)), 'after emptying and refilling');
  });

  // The cost the lesson is about, counted: texts given to the embedder and the analyzer during the update. before.ts
  // rebuilds everything by design, so it is exempt.
  describe.skipIf(name === 'before')('the cost of an update', () => {
    async function countUpdate(from: readonly Doc[], to: readonly Doc[]) {
      const d = deps();
      const index = await impl.buildIndex(from, d);
      const [e0, a0] = [d.embedder.texts, d.analyzer.texts];
      await impl.updateIndex(index, to);
      return { embedded: d.embedder.texts - e0, analysed: d.analyzer.texts - a0, ...changedChunks(from, to) };
    }

    it('embeds and analyses only the chunks whose indexed text changed', async () => {
      const c = await countUpdate(v0, v1);
      expect(c.changed).toBeLessThan(c.inChangedDocs); // the edit leaves most chunks of the documents it touched as they were
      expect(
        c.embedded,
        `${c.embedded} chunks embedded for an edit that changed ${c.changed} (the documents it touched hold ` +
          `${c.inChangedDocs}, the corpus ${chunkCount(v1)}): a chunk whose indexed text its document already had ` +
          `already has its embedding in the index`,
      ).toBeLessThanOrEqual(c.changed);
      expect(c.analysed, `${c.analysed} chunks analysed for an edit that changed ${c.changed}: unchanged chunks already have their postings`).toBeLessThanOrEqual(c.changed);
    });

    it('an update that changes nothing embeds nothing', async () => {
      const c = await countUpdate(v0, [...v0]);
      expect(c.embedded, `${c.embedded} chunks embedded for an edit that changed 0: the corpus is the one indexed`).toBe(0);
    });

    it('a seeded 1% edit of the grown corpus costs only its changed chunks', async () => {
      const { docs: next } = editCorpus(v0, { model: corpus.model, fraction: 0.01, seed: 9 });
      const c = await countUpdate(v0, next);
      expect(c.embedded, `${c.embedded} chunks embedded for an edit that changed ${c.changed} of ${chunkCount(next)}`).toBeLessThanOrEqual(c.changed);
    });
  });
});

function chunkCount(docs: readonly Doc[]): number {
  let n = 0;
  for (const d of docs) n += chunkDocument(d).length;
  return n;
}
