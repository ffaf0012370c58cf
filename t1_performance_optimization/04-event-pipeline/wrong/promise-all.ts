/**
 * Wrong (on purpose): async, but every stage at once. The documents are chunked as they are iterated, cut into
 * batches, and then every batch is embedded, indexed and handed to the sink inside one `Promise.all`: "let them all
 * run concurrently". On one thread that concurrency is only the sink's waiting, and the price is that the whole
 * corpus (every chunk, every vector) is in flight before the first batch is through the sink. Nothing waits for room.
 *
 * What differs from after.ts: all of runPipeline, its only function (no streams: chunk everything, then one
 * Promise.all over the batches).
 *
 * @rejected-with 491 chunks in flight, bound 90
 */
import type { Chunk, Doc } from '../../../shared/types.ts';
import { BufferGauge, chunkStage, embedStage, indexStage, newOutput, type PipelineOptions, type PipelineResult } from '../stages.ts';

export async function runPipeline(docs: Iterable<Doc>, opts: PipelineOptions): Promise<PipelineResult> {
  const batchSize = opts.batchSize ?? 64;
  const out = newOutput(opts);
  const gauge = new BufferGauge();
  const chunks: Chunk[] = [];
  let docIndex = 0;
  for await (const doc of docs) {
    const cut = chunkStage(doc, docIndex++, opts);
    gauge.produce(cut.length);
    chunks.push(...cut);
  }
  const groups: Chunk[][] = [];
  for (let i = 0; i < chunks.length; i += batchSize) groups.push(chunks.slice(i, i + batchSize));
  await Promise.all(
    groups.map(async (group, g) => {
      const batch = embedStage(group, g * batchSize, opts);
      indexStage(batch, out, opts);
      await opts.sink?.(batch);
      gauge.consume(group.length);
    }),
  );
  return { ...out, stats: { batches: groups.length, maxBuffered: gauge.max } };
}
