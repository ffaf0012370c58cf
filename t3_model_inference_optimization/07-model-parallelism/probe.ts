/**
 * Counting what a service asks of its threads (the checkpoint and the benchmark use it; the services never see it):
 * `watchThreads(threads, hidden)` wraps each thread's `worker.postMessage` and listens to its replies, and counts
 *
 * - micro-batches in flight: entered (posted with `input_ids`, i.e. to a first stage) and not yet left (rows or an
 *   error back); the most at any moment;
 * - threads working at once: a thread works from a post to it until its reply; the most threads with work at once
 *   (1 means no two stages ever computed at the same time);
 * - what crosses a stage boundary: every `hidden_states` posted, its dims against the mask's [batch, seq] and the
 *   model's hidden width;
 * - bytes moved and copied, per tensor name: after `postMessage` returns, a transferred buffer is detached
 *   (byteLength 0), a cloned one is not: its bytes were copied;
 * - the time each thread spent in `session.run` (the workers report it with each reply), and threads that exited.
 *
 * Counts, not times (except runMs, which the bench reports): the same on any machine and under any load.
 */
import type { Worker } from 'node:worker_threads';
import { ATTENTION_MASK, HIDDEN_STATES, INPUT_IDS, SENTENCE_EMBEDDING } from '../../shared/model/encoder-stages.ts';
import type { StageReply, StageRequest, StageThread } from './stage-thread.ts';

export interface ThreadCounts {
  /** Micro-batches posted to a first stage (with `input_ids`). */
  entered: number;
  /** Micro-batches whose rows or error came back. */
  left: number;
  /** Most micro-batches entered and not yet left at any moment. */
  maxInFlight: number;
  /** Most threads with a post outstanding at any moment. */
  maxBusy: number;
  /** Per thread: runs posted to it and ms its session spent running them. */
  runs: number[];
  runMs: number[];
  /** `hidden_states` tensors posted (stage boundary crossings), their float count, and dims that were not [b, s, H]. */
  boundary: { posts: number; floats: number; badShapes: string[] };
  /** Bytes posted per tensor name, moved (transferred: the sender's buffer detached) or copied (structured clone). */
  moved: Record<string, number>;
  copied: Record<string, number>;
  /** Threads whose worker exited since the watch started. */
  exited: number;
}

export interface ThreadWatch {
  readonly counts: ThreadCounts;
  /** Start counting afresh (work already in flight is still tracked, so in-flight counts stay right). */
  reset(): void;
  /** Put every worker's own postMessage back and stop listening. */
  restore(): void;
}

const emptyCounts = (threads: number): ThreadCounts => ({
  entered: 0,
  left: 0,
  maxInFlight: 0,
  maxBusy: 0,
  runs: Array(threads).fill(0),
  runMs: Array(threads).fill(0),
  boundary: { posts: 0, floats: 0, badShapes: [] },
  moved: {},
  copied: {},
  exited: 0,
});

/** Watch `threads` (a service's, in stage order); `hidden` is the model's hidden width, for the boundary check. */
export function watchThreads(threads: readonly StageThread[], hidden: number): ThreadWatch {
  let counts = emptyCounts(threads.length);
  const outstanding = threads.map(() => new Set<number>());
  let inFlight = 0;
  const undo: Array<() => void> = [];

  const busy = () => outstanding.filter((s) => s.size > 0).length;

  threads.forEach((thread, t) => {
    const worker = thread.worker as Worker & { postMessage: Worker['postMessage'] };
    const own = Object.prototype.hasOwnProperty.call(worker, 'postMessage') ? worker.postMessage : undefined;
    const original = worker.postMessage;
    worker.postMessage = function postMessage(this: Worker, msg: unknown, transferList?: readonly unknown[]) {
      const req = msg as Partial<StageRequest>;
      const feeds = req && typeof req === 'object' && typeof req.id === 'number' && req.feeds ? req.feeds : undefined;
      const sizes = feeds ? Object.entries(feeds).map(([name, w]) => [name, w.data.byteLength, w] as const) : [];
      original.call(this, msg, transferList as never);
      if (!feeds) return;
      const c = counts;
      for (const [name, bytes, w] of sizes) {
        const bucket = w.data.byteLength === 0 ? c.moved : c.copied;
        bucket[name] = (bucket[name] ?? 0) + bytes;
      }
      c.runs[t]++;
      outstanding[t].add(req.id!);
      c.maxBusy = Math.max(c.maxBusy, busy());
      if (INPUT_IDS in feeds) {
        c.entered++;
        inFlight++;
        c.maxInFlight = Math.max(c.maxInFlight, inFlight);
      }
      const h = feeds[HIDDEN_STATES];
      if (h) {
        c.boundary.posts++;
        const [batch, seq] = feeds[ATTENTION_MASK]?.dims ?? [];
        const floats = h.type === 'float32' ? sizes.find(([n]) => n === HIDDEN_STATES)![1] / 4 : NaN;
        c.boundary.floats += floats;
        if (h.type !== 'float32' || h.dims.join() !== `${batch},${seq},${hidden}` || floats !== batch * seq * hidden) {
          c.boundary.badShapes.push(`${h.type} [${h.dims}] (${floats} floats) with a [${batch}, ${seq}] mask`);
        }
      }
    } as Worker['postMessage'];
    const onMessage = (msg: StageReply) => {
      if (!('id' in msg)) return;
      outstanding[t].delete(msg.id);
      if ('runMs' in msg) counts.runMs[t] += msg.runMs;
      // a micro-batch leaves with its rows (last stage) or its error (any stage)
      const leaves = 'error' in msg || SENTENCE_EMBEDDING in msg.outputs;
      if (leaves) {
        counts.left++;
        inFlight--;
      }
    };
    const onExit = () => {
      counts.exited++;
      outstanding[t].clear();
    };
    worker.prependListener('message', onMessage);
    worker.on('exit', onExit);
    undo.push(() => {
      if (own) worker.postMessage = own;
      else delete (worker as { postMessage?: unknown }).postMessage;
      worker.off('message', onMessage);
      worker.off('exit', onExit);
    });
  });

  return {
    get counts() {
      return counts;
    },
    reset() {
      counts = emptyCounts(threads.length);
    },
    restore() {
      for (const u of undo) u();
    },
  };
}

/** Bytes of hidden states copied between threads (0 when every hop transferred them). */
export const hiddenBytesCopied = (c: ThreadCounts): number => c.copied[HIDDEN_STATES] ?? 0;
