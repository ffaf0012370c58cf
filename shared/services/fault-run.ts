/**
 * A fault run (t4/09): a steady open-loop load of searches through the gateway for `durationMs`, faults injected at
 * set times (SIGKILL a shard, the embedder, …), every request's outcome and time recorded. Then the figures the
 * lesson is judged by:
 *
 * - **availability over the run**: answers that are 200 and complete or flagged (partial / degraded) ÷ all requests;
 * - per fault: **time to healthy** (the fault → the first complete answer to a request sent after it) and the failed
 *   requests from the fault to the next one;
 * - with a `WriteLoad` (the ingest path: BullMQ on Redis → NATS JetStream → shards), acknowledged writes lost and
 *   jobs lost, as that load reports them. `ingestLoad` is the one the lesson runs: `rate` writes a second, each a
 *   client that sends its document until it is acknowledged (200) or refused (4xx), retrying what is unknown (503,
 *   504, reset, timeout) with the same Idempotency-Key; at the end `accountWrites` counts, with the shards' answer
 *   to "do you hold it": **acknowledged lost** = a 200 and no shard holds it; **jobs lost** = writes with no outcome
 *   (neither acknowledged nor refused) when the client gave up, `settleMs` after the load; and per fault
 *   `summarizeWriteFaults`: the fault → the first acknowledged write sent after it.
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
  /** Writes refused (a 4xx other than 408/429: the client must not send it again). */
  refused?: number;
  /** Acknowledged writes that could not be checked (a shard that should hold them did not answer at the end). */
  acknowledgedUnverified?: number;
  /** Writes acknowledged on their first attempt (the write availability: ÷ jobs). */
  firstAttemptAcknowledged?: number;
  /** Writes never acknowledged that the shards hold anyway (applied, the answer lost: the client's retry replaces it). */
  appliedUnacknowledged?: number;
  /** Every attempt, in order of sending. */
  attempts?: WriteAttempt[];
}

/**
 * What one write attempt's answer tells the client: **acknowledged** (200: applied by every shard), **refused** (a
 * 4xx other than 408/429: the request is wrong and sending it again will not help; the write is settled as not
 * done) or **unknown** (503, 504, any other 5xx, 408/429, a refused or reset connection, no answer in time: the write
 * may or may not be applied, and the client sends it again with the same Idempotency-Key).
 */
export type WriteAttemptOutcome = 'acknowledged' | 'refused' | 'unknown';

export function classifyWriteAttempt(a: { status: number; error?: string }): WriteAttemptOutcome {
  if (a.error !== undefined || a.status === 0) return 'unknown';
  if (a.status === 200) return 'acknowledged';
  if (a.status >= 400 && a.status < 500 && a.status !== 408 && a.status !== 429) return 'refused';
  return 'unknown';
}

/**
 * A write's outcome after the client's retries: the first attempt that settled it (acknowledged or refused), else
 * **no-outcome** (every attempt unknown until the client gave up): the job is lost from the client's point of view.
 */
export type WriteVerdict = 'acknowledged' | 'refused' | 'no-outcome';

export function writeVerdict(attempts: readonly WriteAttemptOutcome[]): WriteVerdict {
  for (const a of attempts) if (a !== 'unknown') return a;
  return 'no-outcome';
}

/** One attempt of one write: `at` ms after the load started, `ms` its round trip. */
export interface WriteAttempt {
  write: number;
  at: number;
  ms: number;
  status: number;
  outcome: WriteAttemptOutcome;
  /** Why there was no answer (status 0). */
  error?: string;
}

/**
 * The write accounting. `writes[i]`: write i's attempts' outcomes in order; `held[i]`: whether the shards hold its
 * document at the end (true / false, undefined when a shard that may hold it did not answer).
 *
 * - acknowledged lost: acknowledged (a 200 came) and held === false: the system said "applied" and forgot it;
 * - jobs lost: writes with no outcome (neither acknowledged nor refused) after every retry of the client;
 * - applied unacknowledged: not acknowledged, held anyway (harmless: writes are idempotent by id).
 */
export function accountWrites(writes: readonly (readonly WriteAttemptOutcome[])[], held: readonly (boolean | undefined)[]): WriteLoadReport {
  const r = { acknowledged: 0, acknowledgedLost: 0, acknowledgedUnverified: 0, jobs: writes.length, jobsLost: 0, refused: 0, firstAttemptAcknowledged: 0, appliedUnacknowledged: 0 };
  writes.forEach((attempts, i) => {
    const v = writeVerdict(attempts);
    if (attempts[0] === 'acknowledged') r.firstAttemptAcknowledged++;
    if (v === 'acknowledged') {
      r.acknowledged++;
      if (held[i] === false) r.acknowledgedLost++;
      else if (held[i] === undefined) r.acknowledgedUnverified++;
    } else {
      if (v === 'refused') r.refused++;
      else r.jobsLost++;
      if (held[i] === true) r.appliedUnacknowledged++;
    }
  });
  return r;
}

/** A document of the write load: `id` unique to the run, `marker` a word of its own (searchable). */
export interface WriteDoc {
  id: string;
  text: string;
  title?: string;
}

export interface IngestLoadOptions {
  /** The gateway (POST /v1/documents). */
  url: string;
  /** Writes started per second, open loop (each one a client that retries until settled). */
  rate: number;
  /** Stop starting writes after this many (default: no limit until stop()). */
  maxWrites?: number;
  /** Write i's document. */
  doc(i: number): WriteDoc;
  /** Idempotency-Key of write i (the same for all its attempts). */
  key(i: number): string;
  /** At the end: does the index hold each id (true / false / undefined: a shard did not answer). */
  held(ids: string[]): Promise<(boolean | undefined)[]>;
  /** One attempt waits this long for its answer (then: unknown, sent again). Default 4,000 ms. */
  attemptTimeoutMs?: number;
  /** Pause before sending again after an unknown outcome. Default 500 ms. */
  retryDelayMs?: number;
  /** After stop(): how long the clients go on retrying writes not settled yet. Default 10,000 ms. */
  settleMs?: number;
  log?: (line: string) => void;
}

/**
 * The write half of a fault run: `rate` writes a second, each an ingest of one new document with its own
 * Idempotency-Key, sent by a client that retries unknown outcomes (503/504/5xx, connection errors, timeouts) with the
 * same key until it is acknowledged or refused, or until `settleMs` after stop(). Then the shards are asked which
 * documents they hold, and `accountWrites` counts.
 */
export function ingestLoad(opts: IngestLoadOptions): WriteLoad & { readonly attempts: WriteAttempt[] } {
  const attemptTimeoutMs = opts.attemptTimeoutMs ?? 4_000;
  const retryDelayMs = opts.retryDelayMs ?? 500;
  const attempts: WriteAttempt[] = [];
  const outcomes: WriteAttemptOutcome[][] = [];
  const ids: string[] = [];
  const running = new Set<Promise<void>>();
  let pool: Pool | undefined;
  let t0 = 0;
  let deadline = Infinity;
  let tick: NodeJS.Timeout | undefined;
  const write = async (i: number) => {
    const d = opts.doc(i);
    ids[i] = d.id;
    const mine: WriteAttemptOutcome[] = (outcomes[i] = []);
    const body = JSON.stringify({ documents: [d] });
    for (;;) {
      const left = deadline - performance.now();
      if (left <= 0) return;
      const started = performance.now();
      let status = 0;
      let error: string | undefined;
      try {
        const res = await pool!.request({
          method: 'POST',
          path: '/v1/documents',
          headers: { 'content-type': 'application/json', 'idempotency-key': opts.key(i) },
          body,
          signal: AbortSignal.timeout(Math.max(1, Math.floor(Math.min(attemptTimeoutMs, left)))),
        });
        await res.body.text();
        status = res.statusCode;
      } catch (err) {
        error = (err as Error).message;
      }
      const outcome = classifyWriteAttempt({ status, error });
      mine.push(outcome);
      attempts.push({ write: i, at: started - t0, ms: performance.now() - started, status, outcome, ...(error !== undefined ? { error } : {}) });
      if (outcome !== 'unknown') return;
      await new Promise((r) => setTimeout(r, Math.max(0, Math.min(retryDelayMs, deadline - performance.now()))));
    }
  };
  return {
    name: 'ingest',
    attempts,
    start() {
      pool = new Pool(opts.url, { connections: 32 });
      t0 = performance.now();
      let next = 0;
      tick = setInterval(() => {
        const now = performance.now() - t0;
        while (next < (opts.maxWrites ?? Infinity) && (next * 1000) / opts.rate <= now) {
          const p = write(next++);
          running.add(p);
          p.finally(() => running.delete(p));
        }
      }, 5);
    },
    async stop() {
      clearInterval(tick);
      deadline = performance.now() + (opts.settleMs ?? 10_000);
      while (running.size > 0) await Promise.all([...running]);
      await pool?.close();
      let held: (boolean | undefined)[];
      try {
        held = await opts.held(ids);
      } catch (err) {
        opts.log?.(`the held check failed: ${(err as Error).message}`);
        held = ids.map(() => undefined);
      }
      const report = accountWrites(outcomes, held);
      attempts.sort((a, b) => a.at - b.at);
      return { ...report, attempts };
    },
  };
}

/** Per fault, the write side: the fault → the first acknowledged attempt sent after it (its arrival), and attempts by outcome until the next fault. */
export interface WriteFaultSummary {
  name: string;
  atMs: number;
  healthyAfterMs?: number;
  acknowledged: number;
  unknown: number;
  refused: number;
}

export function summarizeWriteFaults(attempts: readonly WriteAttempt[], faults: readonly Pick<Fault, 'name' | 'atMs'>[], durationMs: number): WriteFaultSummary[] {
  const sorted = [...faults].sort((a, b) => a.atMs - b.atMs);
  return sorted.map((f, i) => {
    const end = i + 1 < sorted.length ? sorted[i + 1].atMs : durationMs;
    const window = attempts.filter((a) => a.at >= f.atMs && a.at < end);
    const first = attempts
      .filter((a) => a.at >= f.atMs && a.outcome === 'acknowledged')
      .reduce<number | undefined>((min, a) => (min === undefined || a.at + a.ms < min ? a.at + a.ms : min), undefined);
    const by = (o: WriteAttemptOutcome) => window.filter((a) => a.outcome === o).length;
    return { name: f.name, atMs: f.atMs, healthyAfterMs: first === undefined ? undefined : first - f.atMs, acknowledged: by('acknowledged'), unknown: by('unknown'), refused: by('refused') };
  });
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
  /** Per fault, the writes' side (when the write load recorded its attempts). */
  writeFaults?: WriteFaultSummary[];
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

/**
 * One search on `pool` (POST /v1/query with `body`), never rejecting: an answer with its status and parsed body, or
 * status 0 with the error (refused, reset, timed out after `timeoutMs`). A body that is not JSON is `null`.
 */
export async function searchOnce(pool: Pick<Pool, 'request'>, body: Record<string, unknown>, timeoutMs = 5_000): Promise<Answer> {
  try {
    const res = await pool.request({
      method: 'POST',
      path: '/v1/query',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await res.body.text();
    let parsed: Answer['body'] = null;
    try {
      parsed = JSON.parse(text);
    } catch {
      /* not JSON: failed */
    }
    return { status: res.statusCode, body: parsed };
  } catch (err) {
    return { status: 0, error: (err as Error).message };
  }
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
  let writesStopped = false;
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
      const answer = await searchOnce(pool, { query: q.text, k }, timeoutMs);
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
    writesStopped = true;
    const writes = opts.writeLoad ? await opts.writeLoad.stop() : undefined;
    records.sort((a, b) => a.at - b.at);
    return {
      durationMs: opts.durationMs,
      records,
      availability: availability(records.map((r) => r.outcome)),
      faults: summarizeFaults(records, opts.faults, opts.durationMs),
      writes,
      writeFaults: writes?.attempts ? summarizeWriteFaults(writes.attempts, opts.faults, opts.durationMs) : undefined,
    };
  } finally {
    for (const t of faultTimers) clearTimeout(t);
    // a run that failed half-way stops its writers too (their figures are lost with the run)
    if (opts.writeLoad && !writesStopped) await opts.writeLoad.stop().catch(() => {});
    await pool.close();
  }
}
