/**
 * The lesson's data: two versions of the engine's corpus (Brown documents), the queries the load sends, what each
 * version answers to them, and the embedder, fitted once and frozen.
 */
import { loadBrown } from '../../shared/corpus/brown.ts';
import { chunkDocument, indexText } from '../../shared/corpus/chunk.ts';
import { createDefaultEmbedder } from '../../shared/embed/sif.ts';
import type { Doc, Embedder } from '../../shared/types.ts';
import { signature, type Expected } from './load.ts';
import { answer, buildEngine, type ServiceOptions } from './service.ts';

export interface Versions {
  /** The first n Brown documents. */
  a: Doc[];
  /**
   * The next version: every 5th document of `a` removed, every 3rd (of the rest) with a new edition's title and a
   * paragraph appended, and the next n/4 Brown documents added.
   */
  b: Doc[];
}

export async function loadVersions(n: number): Promise<Versions> {
  const all = await loadBrown({ limit: n + Math.ceil(n / 4) });
  const a = all.slice(0, n);
  const b: Doc[] = [];
  a.forEach((d, i) => {
    if (i % 5 === 4) return;
    if (i % 3 === 0) {
      const donor = a[(i + 7) % n].text.split('\n\n')[0];
      b.push({ ...d, title: `${d.title} (2nd edition)`, text: `${d.text}\n\n${donor}` });
    } else b.push(d);
  });
  b.push(...all.slice(n));
  return { a, b };
}

const GENERAL = ['the jury said the election was conducted', 'hospital patients and nurses', 'tax bill in the legislature', 'baseball game season'];

/** About `n` queries: a few general ones, then twelve words from the middle of documents of both versions. */
export function queriesFor(v: Versions, n = 24): string[] {
  const docs = [...new Map([...v.a, ...v.b].map((d) => [d.id, d])).values()];
  const out = [...GENERAL];
  const step = Math.max(1, Math.floor(docs.length / Math.max(1, n - GENERAL.length)));
  for (let i = 0; i < docs.length && out.length < n; i += step) {
    const words = docs[i].text.split(/\s+/);
    const mid = Math.floor(words.length / 2);
    out.push(words.slice(mid, mid + 12).join(' '));
  }
  return out;
}

/**
 * The engine's default embedder (SIF over GloVe-100d) fitted once on the chunks of `docs`, as an `Embedder` without
 * `fit`: every index version embeds with the same model (a new engine would otherwise fit it again on its first
 * ingest, moving the vectors of the version being served).
 */
export async function frozenEmbedder(docs: readonly Doc[], log: (msg: string) => void = () => {}): Promise<Embedder> {
  const sif = await createDefaultEmbedder({ log });
  await sif.fit(docs.flatMap((d) => chunkDocument(d)).map(indexText));
  return { name: sif.name, dim: sif.dim, embed: (t) => sif.embed(t) };
}

/** What each version answers to each query, from engines built the way the service builds them. */
export async function expectedAnswers(versions: Record<string, readonly Doc[]>, queries: readonly string[], opts: ServiceOptions, k = 10): Promise<Expected> {
  const out = new Map<string, Map<string, string>>();
  for (const [name, docs] of Object.entries(versions)) {
    const engine = await buildEngine(docs, opts);
    const answers = new Map<string, string>();
    for (const q of queries) answers.set(q, signature((await answer(engine, name, q, k)).hits));
    out.set(name, answers);
  }
  return out;
}
