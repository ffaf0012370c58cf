/**
 * Measuring a pipeline from the outside, by counting (the benchmark and the checkpoint use it; the pipelines never
 * see it): a counting source, a counting sink and a turn counter on the event loop. Nothing here trusts what the
 * pipeline says about itself.
 *
 * - **Chunks in flight**: a document's chunks count from the moment the pipeline takes the document from its source
 *   (a generator that counts each pull) until the sink has finished with them (the sink's promise resolved). The peak
 *   of that difference is what the pipeline holds at once. A pipeline with backpressure takes the next document only
 *   when there is room; one without it takes them all.
 * - **Longest slice without a turn**: a `setImmediate` loop counts event-loop turns while the pipeline runs and
 *   records how many batches reached the sink between two turns. A pipeline that never yields runs every batch in
 *   one slice: a timer, a request or a health check waits for all of them.
 */
import { chunkDocument, type ChunkOptions } from '../../shared/corpus/chunk.ts';
import type { Doc } from '../../shared/types.ts';
import type { IndexedBatch, PipelineOptions } from './stages.ts';

export interface ProbeReport {
  /** Most chunks ever in flight: of documents taken from the source, not yet through the sink. */
  maxInFlight: number;
  /** Chunks the corpus has (all of them in flight = no backpressure at all). */
  total: number;
  /** Batches that reached the sink. */
  batches: number;
  /** Event-loop turns while the pipeline ran. */
  turns: number;
  /** Most batches that reached the sink between two event-loop turns. */
  longestSlice: number;
}

export class PipelineProbe {
  private readonly perDoc: number[];
  private taken = 0;
  private consumed = 0;
  private maxInFlight = 0;
  private batches = 0;
  private turns = 0;
  private sliceBatches = 0;
  private longestSlice = 0;
  private running = false;
  readonly total: number;

  /** `chunk` must be the chunking bounds the pipeline will use, so the probe knows each document's chunk count. */
  constructor(
    private readonly docs: readonly Doc[],
    chunk?: ChunkOptions,
  ) {
    this.perDoc = docs.map((d) => chunkDocument(d, chunk).length);
    this.total = this.perDoc.reduce((a, b) => a + b, 0);
  }

  /** The documents, counted as the pipeline takes them (iterate it once). */
  *source(): Generator<Doc> {
    for (let i = 0; i < this.docs.length; i++) {
      this.taken += this.perDoc[i];
      this.maxInFlight = Math.max(this.maxInFlight, this.taken - this.consumed);
      yield this.docs[i];
    }
  }

  /** A sink that counts each batch once `inner` (if any) has finished with it. */
  sink(inner?: PipelineOptions['sink']): NonNullable<PipelineOptions['sink']> {
    const done = (batch: IndexedBatch) => {
      this.consumed += batch.chunks.length;
      this.batches++;
      this.sliceBatches++;
      this.longestSlice = Math.max(this.longestSlice, this.sliceBatches);
    };
    return (batch) => {
      const r = inner?.(batch);
      if (r instanceof Promise) return r.then(() => done(batch));
      done(batch);
      return undefined;
    };
  }

  /** Run `fn` (the pipeline) while counting event-loop turns; returns what was counted. */
  async run(fn: () => Promise<unknown>): Promise<ProbeReport> {
    this.running = true;
    const tick = () => {
      if (!this.running) return;
      this.turns++;
      this.sliceBatches = 0;
      setImmediate(tick);
    };
    setImmediate(tick);
    try {
      await fn();
    } finally {
      this.running = false;
    }
    return this.report();
  }

  report(): ProbeReport {
    return { maxInFlight: this.maxInFlight, total: this.total, batches: this.batches, turns: this.turns, longestSlice: this.longestSlice };
  }
}

/** Run one pipeline over `docs` with a counting source and sink; `opts.sink`, if any, is wrapped. */
export async function probeRun(
  runPipeline: (docs: Iterable<Doc>, opts: PipelineOptions) => Promise<unknown>,
  docs: readonly Doc[],
  opts: PipelineOptions,
): Promise<ProbeReport> {
  const probe = new PipelineProbe(docs, opts.chunk);
  return probe.run(() => runPipeline(probe.source(), { ...opts, sink: probe.sink(opts.sink) }));
}
