/**
 * `npm run bench:filters`: what a metadata filter costs one query, in-process over a saved index: the engine's path
 * (postings per metadata value, retrieve/metadata-index.ts) against the path it replaced (every retriever asks a
 * predicate about each candidate: a BM25 scan with the filter at the top-k cut, a filtered HNSW walk), on the same
 * queries, in alternating blocks (three rounds). Hybrid, k = 10, no answer; medians.
 *
 *     npm run bench:filters -- --index .cache/idx-20k --queries 200
 */
import { performance } from 'node:perf_hooks';
import { loadEngine, DEFAULT_FUSION, type Engine } from '../engine.ts';
import { brownPhraseSource, distinctPhrases } from '../loadtest/workloads.ts';
import { compileFilter, type MetadataFilter } from '../retrieve/filter.ts';
import { fuse } from '../retrieve/fusion.ts';
import { isZeroVector } from '../embed/sif.ts';
import { fail, numberFlag, parseCli, runMain } from '../util/cli.ts';
import { hasIndex } from '../serve/build-index.ts';
import { percentile } from '../util/stats.ts';

const USAGE = `
Usage: npm run bench:filters -- --index <dir> [--queries N]

Per-query cost of metadata filters (hybrid, k = 10, no answer): the engine's postings against testing every
candidate with a predicate (the way filters worked before), same queries, alternating blocks, medians.

Options:
  --index <dir>     saved index (npm run index)
  --queries N       queries per filter and path (default 200)
  -h, --help        show this help
`;

/** The replaced path: a predicate on every candidate, inside the BM25 cut and the HNSW walk. */
async function predicateQuery(engine: Engine, text: string, filter: MetadataFilter): Promise<number> {
  const test = compileFilter(filter);
  const allowed = (label: number) => {
    const c = engine.chunk(label);
    return c !== undefined && test(c);
  };
  const depth = engine.config.candidates ?? 20;
  const terms = engine.analyzer.analyze(text);
  const bm25 = terms.length > 0 ? engine.bm25.search(terms, depth, allowed) : [];
  const [vector] = await engine.embedder.embed([text]);
  const dense = isZeroVector(vector) ? [] : engine.vectors.search(vector, depth, allowed, Math.max(engine.config.hybridEf ?? 24, depth));
  return fuse([bm25, dense], { ...DEFAULT_FUSION, ...engine.config.fusion }).slice(0, 10).length;
}

runMain(async () => {
  const { values } = parseCli(USAGE, { index: { type: 'string' }, queries: { type: 'string' } });
  if (!values.index || !hasIndex(values.index)) fail('--index <dir> must name a saved index (npm run index -- --out <dir>)');
  const n = numberFlag('queries', values.queries, 200, (x) => Number.isInteger(x) && x > 0);
  const engine = await loadEngine(values.index, { llm: null });
  const src = await brownPhraseSource();
  const phrases = distinctPhrases(src, 99);
  const queries = Array.from({ length: n }, () => phrases.next().value as string);
  const firstDoc = engine.chunk(0)?.docId ?? 'brown/ca01';
  const filters: Array<[string, MetadataFilter | undefined]> = [
    ['no filter', undefined],
    ['matches nothing: {genre: "no-such-genre"}', { genre: 'no-such-genre' }],
    [`one document: {docId: "${firstDoc}"}`, { docId: firstDoc }],
    ['one genre: {genre: "news"}', { genre: 'news' }],
    ['two keys: {genre: "news", source: "brown"}', { genre: 'news', source: 'brown' }],
  ];
  // build the postings and warm both paths up
  for (const q of queries.slice(0, 20)) {
    await engine.query(q, { filter: { genre: 'news' }, answer: false });
    await predicateQuery(engine, q, { genre: 'news' });
  }
  const { chunks } = engine.stats();
  console.log(`${values.index}: ${chunks.toLocaleString('en-US')} chunks, ${n} queries per row, hybrid k = 10, no answer`);
  console.log('');
  console.log('| filter | postings: median µs/query | chunks looked at | predicate on candidates: median µs/query | ratio |');
  console.log('| --- | ---: | ---: | ---: | ---: |');
  for (const [name, filter] of filters) {
    const tNew: number[] = [];
    const tOld: number[] = [];
    const examined0 = engine.filterLabelsExamined;
    // blocks of each path in turn (three rounds): one path's garbage and cache misses stay out of the other's times
    for (let round = 0; round < 3; round++) {
      for (const q of queries) {
        const t = performance.now();
        await engine.query(q, { filter, answer: false });
        tNew.push(performance.now() - t);
      }
      if (!filter) continue;
      for (const q of queries) {
        const t = performance.now();
        await predicateQuery(engine, q, filter);
        tOld.push(performance.now() - t);
      }
    }
    const examined = (engine.filterLabelsExamined - examined0) / tNew.length;
    // medians: this machine's scheduler pauses put a few very long samples into any mean
    const median = (xs: number[]) => percentile(Float64Array.from(xs).sort(), 50);
    const us = (ms: number) => (ms * 1000).toFixed(ms < 0.01 ? 1 : 0);
    const a = median(tNew);
    const b = filter ? median(tOld) : NaN;
    console.log(`| ${name} | ${us(a)} | ${filter ? examined.toFixed(0) : '–'} | ${filter ? us(b) : '–'} | ${filter ? `${(b / a).toFixed(1)}×` : ''} |`);
  }
});
