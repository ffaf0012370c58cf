/**
 * One server of the lesson as a process of its own, for find-leaks.ts: builds the engine, starts before.ts's,
 * after.ts's or exercise.ts's server, prints {"url":...} on stdout and serves until SIGTERM. Started with
 * `--heapsnapshot-signal=SIGUSR2`, each `kill -USR2 <pid>` writes a heap snapshot (into --diagnostic-dir).
 *
 *     node --heapsnapshot-signal=SIGUSR2 --import tsx serve-child.ts <before|after|exercise> [docs|stub] [cacheBytes]
 *
 * `stub` serves a stand-in for the engine (canned hits of the same size, no embedder in the heap): its snapshots are
 * a few MB instead of tens, which is what the checkpoint uses to test the leak finder itself in seconds.
 */
import type { Engine, QueryResult } from '../../shared/engine.ts';

/** Answers like the engine, with hits of the same shape and size, derived from the query alone. */
function stubEngine(): Engine {
  const query = async (text: string, opts: { k?: number } = {}): Promise<QueryResult> => ({
    hits: Array.from({ length: opts.k ?? 10 }, (_, i) => ({
      rank: i + 1,
      chunkId: `stub-${i}`,
      docId: `stub/doc${i}`,
      score: 1 / (i + 1),
      scores: {},
      title: `stub ${i}`,
      text: `${text} `.repeat(Math.ceil(1200 / (text.length + 1))),
      position: 0,
      metadata: {},
    })),
    answer: { text: `${text}.`, citations: [], sentences: [], source: 'extractive' },
    timings: { total: 0 },
  });
  const ingest = async (docs: readonly unknown[]) => ({ documents: docs.length, chunks: docs.length, replaced: 0, ms: 0, stages: { chunk: 0, fit: 0, embed: 0, bm25: 0, vectors: 0 } });
  return { query, ingest } as unknown as Engine;
}

const [impl = 'before', docs = '12', cacheBytes] = process.argv.slice(2);
if (!['before', 'after', 'exercise'].includes(impl)) throw new Error(`serve-child: unknown implementation "${impl}"`);
const mod = (await import(`./${impl}.ts`)) as typeof import('./after.ts');
const engine = docs === 'stub' ? stubEngine() : (await (await import('./workload.ts')).lessonEngine(Number(docs))).engine;
const server = await mod.startServer(engine, cacheBytes ? { cacheBytes: Number(cacheBytes) } : {});
process.stdout.write(`${JSON.stringify({ url: server.url, pid: process.pid })}\n`);
process.on('SIGTERM', () => {
  void server.close().then(() => process.exit(0));
});
