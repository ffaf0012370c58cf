/**
 * Checkpoint for 09-fault-recovery: the restart policy (`keepAlive`) and how an answer is judged (`classifyAnswer`).
 * `npm run checkpoint -- 09-fault-recovery` runs it against exercise.ts; plain `npx vitest run` checks before.ts
 * (started once: the tests of readiness and of answers during an outage apply) and after.ts.
 *
 * The policy runs in sim.ts's world: a virtual clock, fake children that take 300 ms to load (or crash 50 ms after
 * they start, for a crash loop), the address it opens and closes, and a client searching a two-shard gateway every
 * 10 ms, shard 1 being the supervised child. Starts, waits and answers are counted in virtual ms, nothing is timed.
 * The real processes, with kill -9 under load, are the bench's (and shared/services/split.test.ts's).
 */
import { describe, expect, it } from 'vitest';
import { implementations } from '../../shared/lab/checkpoint.ts';
import { accountWrites, classifyWriteAttempt, type Answer, type Outcome } from '../../shared/services/fault-run.ts';
import type { RestartPolicy } from './after.ts';
import { EXPECTED, World } from './sim.ts';

type Mod = typeof import('./after.ts');

const POLICY: Omit<RestartPolicy, 'now' | 'sleep'> = { restartDelayMs: 100, maxRestartDelayMs: 2_000, stableMs: 5_000, probeIntervalMs: 20, readyTimeoutMs: 10_000 };
const LOAD_MS = 300;

function world(impl: Mod) {
  const w = new World();
  w.loadMs = LOAD_MS;
  const keeper = impl.keepAlive(w.spawn, w.traffic, { ...POLICY, now: w.clock.now, sleep: w.clock.sleep });
  return { w, keeper };
}

describe.each(await implementations<Mod>(import.meta.url))('%s', (name, impl) => {
  const supervised = name !== 'before';

  it.skipIf(!supervised)('restarts a killed child after a backoff and gives it traffic again once it is ready', async () => {
    const { w, keeper } = world(impl);
    w.killAt(1_000);
    await w.clock.runUntil(3_000);
    const starts = w.children.map((c) => c.startedAt);
    expect(starts.length, `shard-1 was not restarted after kill -9 (${starts.length} start(s) in 3 s)`).toBe(2);
    expect(keeper.restarts).toBe(1);
    const back = starts[1] - 1_000;
    expect(back, `restarted ${back} ms after the kill: the first wait is ${POLICY.restartDelayMs} ms`).toBeLessThanOrEqual(POLICY.restartDelayMs + POLICY.probeIntervalMs);
    expect(w.closed.some((t) => t >= 1_000 && t <= starts[1]), 'the address stayed open while shard-1 was dead').toBe(true);
    const reopened = w.opened.filter((t) => t >= starts[1]);
    expect(reopened.length, 'the restarted shard-1 was never given traffic').toBe(1);
    expect(reopened[0] - starts[1], 'traffic again within one probe of ready').toBeLessThanOrEqual(LOAD_MS + POLICY.probeIntervalMs);
  });

  it('gives a child traffic only once it is ready (never while it loads)', async () => {
    const { w } = world(impl);
    w.clientEvery(10, 0, 3_000);
    w.killAt(1_000);
    await w.clock.runUntil(3_000);
    const loading = w.answers.filter((a) => a.reachedLoading);
    expect(
      loading.length,
      `${loading.length} requests reached shard-1 while it was loading (not ready), first at ${loading[0]?.at} ms: the address was opened before ready() said so`,
    ).toBe(0);
    expect(w.opened.length, 'shard-1 was never given traffic').toBeGreaterThan(0);
  });

  it('answers during the outage are complete or flagged: never a 5xx, never a silent partial', async () => {
    const { w } = world(impl);
    w.clientEvery(10, 0, 3_000);
    w.killAt(1_000);
    await w.clock.runUntil(3_000);
    const outcomes = w.answers.map((a) => impl.classifyAnswer(a.answer, EXPECTED));
    const bad = w.answers.filter((_, i) => outcomes[i] !== 'complete' && outcomes[i] !== 'flagged');
    expect(bad.map((a) => `${a.at} ms: ${a.reachedLoading ? 'silent partial from a loading shard-1' : a.answer.status}`), 'answers that were not available').toEqual([]);
    expect(outcomes.filter((o) => o === 'flagged').length, 'the outage was not seen: no flagged answer').toBeGreaterThan(0);
    if (supervised) {
      const late = w.answers.filter((a, i) => a.at > 2_000 && outcomes[i] !== 'complete');
      expect(late.length, `${late.length} answers after 2 s were still not complete: shard-1 did not come back`).toBe(0);
    }
  });

  it.skipIf(!supervised)('a crash loop backs off (doubling waits, capped) instead of spinning, and is never given traffic', async () => {
    const { w } = world(impl);
    // from now on every new child crashes 50 ms after it starts; the running one is killed at 1 s
    w.clock.at(990, () => (w.crashAfterMs = 50));
    w.killAt(1_000);
    await w.clock.runUntil(21_000);
    const starts = w.children.map((c) => c.startedAt).filter((t) => t >= 1_000);
    // 100, 200, 400, 800, 1600, then 2000 ms: ~13 starts in 20 s; restarting at once: ~400
    expect(starts.length, `crash loop: ${starts.length} starts in 20 s of crashes (bound 20): restarting without backoff spins`).toBeLessThanOrEqual(20);
    expect(starts.length, `gave up on a crashing shard-1: ${starts.length} starts in 20 s`).toBeGreaterThanOrEqual(8);
    const waits = starts.slice(1).map((t, i) => t - (starts[i] + 50));
    expect(waits[1], `waits between a crash and the next start: ${waits.slice(0, 6).join(', ')} ms: they should double`).toBeGreaterThanOrEqual(2 * waits[0] - POLICY.probeIntervalMs);
    expect(Math.max(...waits), `waits ${waits.join(', ')} ms: capped at ${POLICY.maxRestartDelayMs}`).toBeLessThanOrEqual(POLICY.maxRestartDelayMs + POLICY.probeIntervalMs);
    expect(waits[waits.length - 1], `waits ${waits.join(', ')} ms: they never reached the cap`).toBeGreaterThanOrEqual(POLICY.maxRestartDelayMs - POLICY.probeIntervalMs);
    expect(w.opened.filter((t) => t >= 1_000).length, 'a crashing child (never ready) was given traffic').toBe(0);
  });

  it.skipIf(!supervised)('after a stable run the backoff starts over: the next kill restarts after the first wait', async () => {
    const { w } = world(impl);
    w.clock.at(990, () => (w.crashAfterMs = 50));
    w.killAt(1_000);
    w.clock.at(8_000, () => (w.crashAfterMs = undefined)); // fixed: the next start stays up
    await w.clock.runUntil(20_000);
    const stable = w.children[w.children.length - 1];
    expect(stable.alive, 'the fixed child did not stay up').toBe(true);
    const ran = 20_000 - stable.startedAt;
    expect(ran, 'the fixed child had not run stableMs yet').toBeGreaterThan(POLICY.stableMs);
    const killAt = 20_000;
    w.killAt(killAt);
    await w.clock.runUntil(killAt + 3_000);
    const next = w.children.find((c) => c.startedAt > killAt);
    expect(next, `shard-1 was not restarted within 3 s of a kill (it had run ${(ran / 1000).toFixed(1)} s)`).toBeDefined();
    const d = next!.startedAt - killAt;
    expect(d, `restarted ${d} ms after the kill of a child that had run ${(ran / 1000).toFixed(1)} s: the backoff never starts over after a stable run`).toBeLessThanOrEqual(
      POLICY.restartDelayMs + POLICY.probeIntervalMs,
    );
  });

  it('judges answers: flagged partial or degraded is available, an unflagged partial is not, a 5xx failed', () => {
    const hits = (ids: string[]) => ids.map((chunkId) => ({ chunkId }));
    const cases: { what: string; a: Answer; want: Outcome; wrongMsg: (got: Outcome) => string }[] = [
      { what: 'complete', a: { status: 200, body: { hits: hits(EXPECTED), partial: false, degraded: [] } }, want: 'complete', wrongMsg: (o) => `counted a complete answer as ${o}` },
      {
        what: 'a shard missing, flagged',
        a: { status: 200, body: { hits: hits(['s0-a', 's0-b']), partial: true, degraded: ['shards-missing'] } },
        want: 'flagged',
        wrongMsg: (o) => `counted a flagged answer as a failure (${o}): a flagged partial answer is available, the client knows what is missing`,
      },
      {
        what: 'BM25 only, flagged degraded',
        a: { status: 200, body: { hits: hits(['s1-b', 's0-a']), partial: false, degraded: ['bm25-only'] } },
        want: 'flagged',
        wrongMsg: (o) => `counted a flagged answer as a failure (${o}): a degraded answer that says so is available`,
      },
      {
        what: 'a shard missing, not flagged',
        a: { status: 200, body: { hits: hits(['s0-a', 's0-b']), partial: false, degraded: [] } },
        want: 'wrong',
        wrongMsg: (o) => `counted an unflagged partial answer as available (${o}): it misses hits and does not say so`,
      },
      { what: '503', a: { status: 503, body: { hits: [] } }, want: 'failed', wrongMsg: (o) => `counted a 503 as ${o}` },
      { what: 'refused', a: { status: 0, error: 'ECONNREFUSED' }, want: 'failed', wrongMsg: (o) => `counted a refused request as ${o}` },
    ];
    const problems = cases.map((c) => ({ c, got: impl.classifyAnswer(c.a, EXPECTED) })).filter((x) => x.got !== x.c.want);
    expect(problems.length, problems.map((x) => `${x.c.what}: ${x.c.wrongMsg(x.got)}`).join('; ')).toBe(0);
  });
});

// The write half's accounting (shared/services/fault-run.ts, not part of the exercise): what the bench counts as
// "acknowledged writes lost" and "jobs lost" after a Redis restart and a worker kill, on one small story.
describe('the write accounting of the fault run', () => {
  it('a job lost with Redis and sent again is not lost; an acknowledged write no shard holds is', () => {
    expect(classifyWriteAttempt({ status: 503 }), 'a 503 means "not known to be applied": retry').toBe('unknown');
    expect(classifyWriteAttempt({ status: 0, error: 'timeout' })).toBe('unknown');
    expect(classifyWriteAttempt({ status: 400 }), 'a 400 is settled: sending it again does not help').toBe('refused');
    const report = accountWrites(
      [
        ['acknowledged'], // written before the faults
        ['unknown', 'acknowledged'], // its job died with Redis (504 after the wait); the retry with the same key made it again
        ['unknown', 'unknown', 'acknowledged'], // queued behind the killed worker's job; acknowledged once the new worker ran it
        ['acknowledged'], // a 200 … and no shard holds it at the end: an acknowledged write lost
        ['unknown', 'unknown'], // every attempt unknown until the client gave up: a job lost (the shards hold it: applied, never acknowledged)
      ],
      [true, true, true, false, true],
    );
    expect(report).toMatchObject({ jobs: 5, acknowledged: 4, acknowledgedLost: 1, jobsLost: 1, appliedUnacknowledged: 1, firstAttemptAcknowledged: 2 });
  });
});
