/**
 * Request streams for the load tests, made of real text.
 *
 * The query log: phrases cut from the sentences of the Brown corpus (3–8 consecutive words of one sentence, the
 * "known-item" style: someone remembers a few words of a passage and types them). The generated 100k corpus is
 * trained on Brown, so the phrases hit its vocabulary and word statistics.
 *
 *   uniform   every query distinct (after the cache's normalisation): the results cache never helps
 *   zipf      queries drawn from a log of `logSize` distinct phrases with P(rank r) ∝ 1 / r^1.1 (web-search-like
 *             popularity), so a few queries repeat a lot and a long tail appears once
 *   mixed     95% zipf queries, 5% writes: half ingests of a new document (carrying a unique marker word), half
 *             deletes of a document this run ingested earlier; each acknowledged write is checked (see FreshnessChecker)
 */
import { loadBrown } from '../corpus/brown.ts';
import { splitSentences } from '../text/sentences.ts';
import { mulberry32 } from '../util/random.ts';
import { normalizeQuery } from '../serve/cache.ts';

export type WorkloadName = 'uniform' | 'zipf' | 'mixed';
export const WORKLOADS: readonly WorkloadName[] = ['uniform', 'zipf', 'mixed'];

export interface QueryRequest {
  kind: 'query';
  body: string;
}
export interface IngestRequest {
  kind: 'ingest';
  id: string;
  marker: string;
  body: string;
}
export interface DeleteRequest {
  kind: 'delete';
  id: string;
  marker: string;
}
export type LoadRequest = QueryRequest | IngestRequest | DeleteRequest;

export interface PhraseSource {
  /** Sentences split into words (punctuation stripped). */
  sentences: string[][];
}

export interface StreamOptions {
  /** Hits per query. Default 10. */
  k?: number;
  /** Default 'hybrid'. */
  mode?: 'bm25' | 'dense' | 'hybrid';
  /** Ask for the answer. Default true. */
  answer?: boolean;
  /** PRNG seed. Default 7. */
  seed?: number;
  /** Zipf: distinct queries in the log. Default 10,000. */
  logSize?: number;
  /** Zipf exponent. Default 1.1. */
  zipfS?: number;
  /** Mixed: fraction of writes. Default 0.05. */
  writeFraction?: number;
  /** Mixed: id prefix of the documents this run writes (unique per run). Default 'loadtest/<time>'. */
  runTag?: string;
  /**
   * Mixed: documents whose ingest was acknowledged and checked; deletes take their victims from here (so a delete
   * never races its own ingest). The driver pushes to it. Default: an empty pool (then writes are all ingests).
   */
  deletable?: Array<{ id: string; marker: string }>;
}

/** Sentences of the Brown corpus as word lists (about 57,000 sentences). */
export async function brownPhraseSource(): Promise<PhraseSource> {
  const docs = await loadBrown();
  const sentences: string[][] = [];
  for (const d of docs) {
    for (const s of splitSentences(d.text)) {
      const words = s.split(/\s+/).map((w) => w.replace(/^[^\p{L}\p{N}]+|[^\p{L}\p{N}]+$/gu, '')).filter((w) => w.length > 0);
      if (words.length >= 3) sentences.push(words);
    }
  }
  return { sentences };
}

/** An endless stream of distinct phrases (3–8 words of one sentence), deterministic for a seed. */
export function* distinctPhrases(src: PhraseSource, seed = 7): Generator<string> {
  const rand = mulberry32(seed);
  const seen = new Set<string>();
  let misses = 0;
  for (;;) {
    const s = src.sentences[Math.floor(rand() * src.sentences.length)];
    const len = Math.min(s.length, 3 + Math.floor(rand() * 6));
    const start = Math.floor(rand() * (s.length - len + 1));
    const phrase = s.slice(start, start + len).join(' ');
    const key = normalizeQuery(phrase);
    if (seen.has(key)) {
      if (++misses > 1_000_000) throw new Error('distinctPhrases: the source has run out of distinct phrases');
      continue;
    }
    seen.add(key);
    yield phrase;
  }
}

/** Draws ranks 0..n-1 with P(r) ∝ 1 / (r + 1)^s. */
export function zipfSampler(n: number, s: number, rand: () => number): () => number {
  const cdf = new Float64Array(n);
  let acc = 0;
  for (let r = 0; r < n; r++) cdf[r] = acc += 1 / Math.pow(r + 1, s);
  for (let r = 0; r < n; r++) cdf[r] /= acc;
  return () => {
    const x = rand();
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cdf[mid] < x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}

/** An endless, deterministic stream of requests for a workload. */
export function* requestStream(workload: WorkloadName, src: PhraseSource, opts: StreamOptions = {}): Generator<LoadRequest> {
  const k = opts.k ?? 10;
  const mode = opts.mode ?? 'hybrid';
  const answer = opts.answer ?? true;
  const seed = opts.seed ?? 7;
  const rand = mulberry32(seed ^ 0x5bd1e995);
  const queryBody = (q: string) => JSON.stringify(answer ? { query: q, k, mode } : { query: q, k, mode, answer: false });
  const phrases = distinctPhrases(src, seed);

  if (workload === 'uniform') {
    for (const q of phrases) yield { kind: 'query', body: queryBody(q) };
    return;
  }
  const logSize = opts.logSize ?? 10_000;
  const log: string[] = [];
  for (const q of phrases) {
    log.push(queryBody(q));
    if (log.length === logSize) break;
  }
  const draw = zipfSampler(logSize, opts.zipfS ?? 1.1, rand);
  if (workload === 'zipf') {
    for (;;) yield { kind: 'query', body: log[draw()] };
  }
  // mixed
  const writeFraction = opts.writeFraction ?? 0.05;
  const tag = opts.runTag ?? `loadtest/${Date.now().toString(36)}`;
  const markerTag = tag.replace(/[^a-z0-9]/gi, '').toLowerCase();
  const deletable = opts.deletable ?? [];
  let n = 0;
  for (;;) {
    if (rand() >= writeFraction) {
      yield { kind: 'query', body: log[draw()] };
      continue;
    }
    if (deletable.length > 0 && rand() < 0.5) {
      const victim = deletable.splice(Math.floor(rand() * deletable.length), 1)[0];
      yield { kind: 'delete', id: victim.id, marker: victim.marker };
      continue;
    }
    n++;
    const id = `${tag}/${n}`;
    // a word no corpus contains, so the checker can find exactly this document
    const marker = `zq${markerTag}x${n.toString(36)}`;
    const text = [0, 1, 2].map(() => src.sentences[Math.floor(rand() * src.sentences.length)].join(' ') + '.').join(' ');
    yield { kind: 'ingest', id, marker, body: JSON.stringify({ documents: [{ id, title: `loadtest ${marker}`, text: `${text} ${marker}.`, metadata: { source: 'loadtest' } }] }) };
  }
}
