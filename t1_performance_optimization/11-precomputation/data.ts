/**
 * The workload for 11-precomputation: Brown chunks to index, and a query log with a realistic popularity skew.
 *
 * The log: candidate queries are 1–3-word phrases cut from real Brown sentences (seeded), given a random popularity
 * rank; each log entry draws a rank from a Zipf distribution, P(rank r) ∝ r^-s with s = 1.1 (web and site-search logs
 * measure s ≈ 0.7–1.2). So a few phrases are asked again and again, and most are asked once or never.
 */
import { loadBrown } from '../../shared/corpus/brown.ts';
import { chunkDocument } from '../../shared/corpus/chunk.ts';
import { defaultAnalyzer } from '../../shared/text/analyzer.ts';
import { splitSentences } from '../../shared/text/sentences.ts';
import { mulberry32 } from '../../shared/util/random.ts';

/**
 * The cache key of a query: its analysed terms, in order ("The Dogs!" and "dog" share a key). Not sorted: the order of
 * the terms is the order the score is summed in, and a cached result must be bit-identical to a fresh computation.
 */
export function queryKey(query: string): string {
  return defaultAnalyzer.analyze(query).join(' ');
}

export interface Workload {
  /** Chunk texts, in label order. */
  chunks: string[];
  /** The first half of the log: what the popular set is learned from. */
  train: string[];
  /** The second half: what the hit rate is measured on (queries the precomputation has not seen as a log). */
  test: string[];
}

export interface WorkloadOptions {
  docs: number;
  /** Distinct candidate queries (popularity ranks). */
  distinct: number;
  /** Log entries (half train, half test). */
  logLength: number;
  /** Zipf exponent. Default 1.1. */
  s?: number;
  seed?: number;
}

export async function loadWorkload(opts: WorkloadOptions): Promise<Workload> {
  const docs = await loadBrown({ limit: opts.docs });
  const chunks = docs.flatMap((d) => chunkDocument(d, { maxTokens: 100, overlapTokens: 20 })).map((c) => c.text);
  const rand = mulberry32(opts.seed ?? 11);
  const sentences = docs.flatMap((d) => splitSentences(d.text));
  const phrases = candidatePhrases(sentences, opts.distinct, rand);
  const log = zipfLog(phrases, opts.logLength, opts.s ?? 1.1, rand);
  const half = log.length >> 1;
  return { chunks, train: log.slice(0, half), test: log.slice(half) };
}

/** `count` distinct phrases (distinct by `queryKey`, each with at least one indexable term), in a seeded order. */
export function candidatePhrases(sentences: string[], count: number, rand: () => number): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  for (let tries = 0; out.length < count && tries < count * 50; tries++) {
    const words = sentences[Math.floor(rand() * sentences.length)].split(/\s+/).filter((w) => /\w/.test(w));
    if (words.length === 0) continue;
    const len = 1 + Math.floor(rand() * 3);
    const start = Math.floor(rand() * Math.max(1, words.length - len + 1));
    const phrase = words.slice(start, start + len).join(' ').replace(/[^\w\s'-]/g, '');
    const key = queryKey(phrase);
    if (key === '' || seen.has(key)) continue;
    seen.add(key);
    out.push(phrase);
  }
  return out;
}

/** `length` draws from `items` with P(items[r]) ∝ (r + 1)^-s. */
export function zipfLog(items: string[], length: number, s: number, rand: () => number): string[] {
  const cdf = new Float64Array(items.length);
  let total = 0;
  for (let r = 0; r < items.length; r++) cdf[r] = total += Math.pow(r + 1, -s);
  const out: string[] = new Array(length);
  for (let i = 0; i < length; i++) {
    const u = rand() * total;
    let lo = 0;
    let hi = items.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid] < u) lo = mid + 1;
      else hi = mid;
    }
    out[i] = items[lo];
  }
  return out;
}

/** The `n` most frequent queries of a log (by `queryKey`; ties: first seen first), one representative text each. */
export function popularQueries(log: string[], n: number): string[] {
  const counts = new Map<string, { text: string; count: number; first: number }>();
  log.forEach((q, i) => {
    const key = queryKey(q);
    const c = counts.get(key);
    if (c) c.count++;
    else counts.set(key, { text: q, count: 1, first: i });
  });
  return [...counts.values()]
    .sort((a, b) => b.count - a.count || a.first - b.first)
    .slice(0, n)
    .map((c) => c.text);
}

/** Fraction of `log` whose key is among the `popular` queries' keys. */
export function hitRate(popular: string[], log: string[]): number {
  const keys = new Set(popular.map(queryKey));
  let hits = 0;
  for (const q of log) if (keys.has(queryKey(q))) hits++;
  return log.length === 0 ? 0 : hits / log.length;
}
