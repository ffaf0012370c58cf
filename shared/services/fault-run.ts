/**
 * A fault run (t4/09): a steady open-loop load of searches through the gateway for `durationMs`, faults injected at
 * set times (SIGKILL a shard, the embedder, …), every request's outcome and time recorded. Then the figures the
 * lesson is judged by:
 *
 * - **availability over the run**: answers that are 200 and complete or flagged (partial / degraded) ÷ all requests;
 * - per fault: **time to healthy** (the fault → the first complete answer to a request sent after it) and the failed
 *   requests from the fault to the next one;
 * - with a `WriteLoad` (the ingest path: BullMQ on Redis → NATS JetStream → shards), acknowledged writes lost and
 *   jobs lost, as that load reports them.
 *
 *     const report = await runFaultLoad({ url, durationMs: 9_000, rate: 40, queries, faults: [
 *       { name: 'SIGKILL shard-1', atMs: 1_500, inject: () => process.kill(shard.pid!, 'SIGKILL') },
 *     ] });
 *     report.availability.ratio   // 0.9994
 *     report.faults[0].healthyAfterMs
 *
 * An answer is judged by `classifyAnswer`: a 200 that says it left something out (`partial: true`, or `degraded`
 * naming a reason) is **flagged**, available (unless it holds no hit at all where the reference has some: every shard
 * missing is **failed**, flag or not); a 200 that says nothing but whose hits differ from the reference
 * answer for that query is **wrong** (an unflagged partial answer: not available, worse than a failure, because
 * nothing tells the client); anything else that is not 200 (or no answer in time) is **failed**.
 */
import { Pool } from 'undici';

export type Outcome = 'complete' | 'flagged' | 'failed' | 'wrong';

/** One answer as the client saw it: `status` 0 when there was none (refused, reset, timed out). */
export interface Answer {
  status: number;
  body?: { hits?: { chunkId: string }[]; partial?: boolean; degraded?: unknown } | null;
  error?: string;
}

/**
 * complete | flagged | failed | wrong. `expected`: the reference answer's chunk ids in order (the monolith's for the
 * same query), when known; without it an unflagged 200 is taken at its word.
 */
export function classifyAnswer(a: Answer, expected?: readonly string[]): Outcome {
  if (a.status !== 200 || a.error !== undefined || !a.body) return 'failed';
  const b = a.body;
  const got = (b.hits ?? []).map((h) => h.chunkId);
  if (b.partial === true || (Array.isArray(b.degraded) && b.degraded.length > 0)) {
    // flagged, but with nothing in it where the reference has hits: every shard was missing, a failure by another name
    return expected && expected.length > 0 && got.length === 0 ? 'failed' : 'flagged';
  }
  if (expected) {
    if (got.length !== expected.length || got.some((id, i) => id !== expected[i])) return 'wrong';
  }
  return 'complete';
}

export interface Availability {
  /** complete + flagged */
  available: number;
  total: number;
  /** available ÷ total (1 when there was no request). */
  ratio: number;
  counts: Record<Outcome, number>;
}

/** Available = complete or flagged; failed and wrong are not. */
export function availability(outcomes: readonly Outcome[]): Availability {
  const counts: Record<Outcome, number> = { complete: 0, flagged: 0, failed: 0, wrong: 0 };
  for (const o of outcomes) counts[o]++;
  const available = counts.complete + counts.flagged;
  return { available, total: outcomes.length, ratio: outcomes.length === 0 ? 1 : available / outcomes.length, counts };
}

/** One fault of the run. */
export interface Fault {
  /** 'SIGKILL shard-1' */
  name: string;
  /** When, ms after the load starts. */
  atMs: number;
  inject(): void | Promise<void>;
}

/**
 * A write load that runs beside the searches (the ingest path), started with the run and stopped at its end. It
 * counts its own losses: a write the system acknowledged that is not in the index once it settles, a job accepted
 * into the queue that never ran.
 */
export interface WriteLoad {
  name: string;
  start(): void | Promise<void>;
  /** Stops writing, waits (bounded) for what was acknowledged to settle, and counts. */
  stop(): Promise<WriteLoadReport>;
}

export interface WriteLoadReport {
  acknowledged: number;
  acknowledgedLost: number;
  jobs: number;
  jobsLost: number;
  note?: string;
}

/** One search of the run. */
export interface RequestRecord {
  /** Sent at, ms after the load started. */
  at: number;
  /** Round trip, ms. */
  ms: number;
  status: number;
  outcome: Outcome;
}

export interface FaultSummary {
  name: string;
  atMs: number;
  /** The fault → the first complete answer to a request sent after it (its arrival), ms; undefined: never. */
  healthyAfterMs?: number;
  /** Requests sent from this fault to the next (or the end), by outcome. */
  failed: number;
  wrong: number;
  flagged: number;
  complete: number;
}

export interface FaultRunReport {
  durationMs: number;
  records: RequestRecord[];
  availability: Availability;
  faults: FaultSummary[];
  writes?: WriteLoadReport;
}

export interface FaultRunOptions {
  /** The gateway. */
  url: string;
  durationMs: number;
  /** Searches per second, sent on schedule whatever the answers (open loop). */
  rate: number;
  /** Cycled through; `expected` is the reference answer's chunk ids (see classifyAnswer). */
  queries: readonly { text: string; expected?: readonly string[] }[];
  faults: readonly Fault[];
  /** k of every search. Default 10. */
  k?: number;
  /** The client gives up on an answer after this long (counted failed). Default 5,000 ms. */
  requestTimeoutMs?: number;
  /** Connections to the gateway. Default 16. */
  connections?: number;
  writeLoad?: WriteLoad;
  log?: (line: string) => void;
}

/** Per fault: time to healthy and outcomes from it to the next fault. Exported for tests. */
export function summarizeFaults(records: readonly RequestRecord[], faults: readonly Pick<Fault, 'name' | 'atMs'>[], durationMs: number): FaultSummary[] {
  const sorted = [...faults].sort((a, b) => a.atMs - b.atMs);
  return sorted.map((f, i) => {
    const end = i + 1 < sorted.length ? sorted[i + 1].atMs : durationMs;
    const window = records.filter((r) => r.at >= f.atMs && r.at < end);
    const firstComplete = records
      .filter((r) => r.at >= f.atMs && r.outcome === 'complete')
      .reduce<number | undefined>((min, r) => (min === undefined || r.at + r.ms < min ? r.at + r.ms : min), undefined);
    const by = (o: Outcome) => window.filter((r) => r.outcome === o).length;
    return {
      name: f.name,
      atMs: f.atMs,
      healthyAfterMs: firstComplete === undefined ? undefined : firstComplete - f.atMs,
      failed: by('failed'),
      wrong: by('wrong'),
      flagged: by('flagged'),
      complete: by('complete'),
    };
  });
}

/** Runs the load and the faults; resolves when every request sent has been answered or timed out. */
export async function runFaultLoad(opts: FaultRunOptions): Promise<FaultRunReport> {
  const k = opts.k ?? 10;
  const timeoutMs = opts.requestTimeoutMs ?? 5_000;
  const pool = new Pool(opts.url, { connections: opts.connections ?? 16 });
  const records: RequestRecord[] = [];
  const inFlight = new Set<Promise<void>>();
  const t0 = performance.now();
  const faultTimers: NodeJS.Timeout[] = [];
  const injected: Promise<unknown>[] = [];
  try {
    if (opts.writeLoad) await opts.writeLoad.start();
    for (const f of opts.faults) {
      faultTimers.push(
        setTimeout(() => {
          opts.log?.(`${(performance.now() - t0).toFixed(0)} ms: ${f.name}`);
          injected.push(Promise.resolve().then(() => f.inject()).catch((err: Error) => opts.log?.(`${f.name} failed: ${err.message}`)));
        }, f.atMs),
      );
    }
    const send = async (i: number, at: number) => {
      const q = opts.queries[i % opts.queries.length];
      const started = performance.now();
      let answer: Answer;
      try {
        const res = await pool.request({
          method: 'POST',
          path: '/v1/query',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ query: q.text, k }),
          signal: AbortSignal.timeout(timeoutMs),
        });
        const text = await res.body.text();
        let body: Answer['body'] = null;
        try {
          body = JSON.parse(text);
        } catch {
          /* not JSON: failed below */
        }
        answer = { status: res.statusCode, body };
      } catch (err) {
        answer = { status: 0, error: (err as Error).message };
      }
      records.push({ at, ms: performance.now() - started, status: answer.status, outcome: classifyAnswer(answer, q.expected) });
    };
    // open loop: request i is due at i / rate s; a 5 ms tick sends whatever is due
    const total = Math.floor((opts.durationMs / 1000) * opts.rate);
    let next = 0;
    await new Promise<void>((resolve) => {
      const tick = setInterval(() => {
        const now = performance.now() - t0;
        while (next < total && (next * 1000) / opts.rate <= now) {
          const p = send(next, now);
          inFlight.add(p);
          p.finally(() => inFlight.delete(p));
          next++;
        }
        if (next >= total) {
          clearInterval(tick);
          resolve();
        }
      }, 5);
    });
    await Promise.all([...inFlight]);
    await Promise.all(injected);
    const writes = opts.writeLoad ? await opts.writeLoad.stop() : undefined;
    records.sort((a, b) => a.at - b.at);
    return {
      durationMs: opts.durationMs,
      records,
      availability: availability(records.map((r) => r.outcome)),
      faults: summarizeFaults(records, opts.faults, opts.durationMs),
      writes,
    };
  } finally {
    for (const t of faultTimers) clearTimeout(t);
    await pool.close();
  }
}
