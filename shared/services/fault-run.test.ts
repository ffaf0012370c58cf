/**
 * fault-run.ts: how an answer is judged (complete / flagged / failed / wrong), availability, the per-fault summary,
 * and the open-loop run itself against a small HTTP server on 127.0.0.1 that fails on cue (a "fault" switches it to
 * 503 for a while, then to flagged partial answers, then back); the write accounting (a write's attempts →
 * acknowledged / refused / no outcome; acknowledged writes lost, jobs lost) and the retrying write client against a
 * small server that loses its first answers.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { accountWrites, availability, classifyAnswer, classifyWriteAttempt, ingestLoad, runFaultLoad, summarizeFaults, summarizeWriteFaults, writeVerdict, type RequestRecord, type WriteAttempt } from './fault-run.ts';

const hits = (...ids: string[]) => ids.map((chunkId) => ({ chunkId }));

describe('classifyAnswer', () => {
  it('a 200 equal to the reference is complete; flagged partial or degraded is flagged; non-200 or none is failed', () => {
    expect(classifyAnswer({ status: 200, body: { hits: hits('a', 'b'), partial: false, degraded: [] } }, ['a', 'b'])).toBe('complete');
    expect(classifyAnswer({ status: 200, body: { hits: hits('a'), partial: true } }, ['a', 'b'])).toBe('flagged');
    expect(classifyAnswer({ status: 200, body: { hits: hits('c'), partial: false, degraded: ['bm25-only'] } }, ['a', 'b'])).toBe('flagged');
    expect(classifyAnswer({ status: 503, body: { hits: [] } })).toBe('failed');
    // flagged with nothing in it (every shard missing) where the reference has hits: failed
    expect(classifyAnswer({ status: 200, body: { hits: [], partial: true } }, ['a', 'b'])).toBe('failed');
    expect(classifyAnswer({ status: 200, body: { hits: [], partial: true } }, [])).toBe('flagged');
    expect(classifyAnswer({ status: 504, body: null })).toBe('failed');
    expect(classifyAnswer({ status: 0, error: 'ECONNREFUSED' })).toBe('failed');
  });

  it('an unflagged 200 that differs from the reference is wrong (a silent partial answer), not available', () => {
    expect(classifyAnswer({ status: 200, body: { hits: hits('a'), partial: false } }, ['a', 'b'])).toBe('wrong');
    expect(classifyAnswer({ status: 200, body: { hits: hits('b', 'a') } }, ['a', 'b'])).toBe('wrong');
    // without a reference an unflagged 200 is taken at its word
    expect(classifyAnswer({ status: 200, body: { hits: hits('a') } })).toBe('complete');
    const a = availability(['complete', 'flagged', 'failed', 'wrong', 'complete']);
    expect(a).toMatchObject({ available: 3, total: 5, ratio: 0.6, counts: { complete: 2, flagged: 1, failed: 1, wrong: 1 } });
    expect(availability([]).ratio).toBe(1);
  });

  it('summarizes each fault: first complete answer after it, outcomes until the next fault', () => {
    const r = (at: number, ms: number, outcome: RequestRecord['outcome']): RequestRecord => ({ at, ms, status: outcome === 'failed' ? 503 : 200, outcome });
    const records = [r(0, 5, 'complete'), r(100, 5, 'complete'), r(110, 5, 'failed'), r(150, 5, 'flagged'), r(300, 20, 'complete'), r(400, 5, 'flagged'), r(500, 5, 'flagged')];
    const s = summarizeFaults(records, [{ name: 'kill b', atMs: 350 }, { name: 'kill a', atMs: 100 }], 600);
    expect(s.map((f) => f.name)).toEqual(['kill a', 'kill b']);
    // a request sent at 100 ms (the fault's own instant) answered complete at 105: counted
    expect(s[0]).toMatchObject({ healthyAfterMs: 5, failed: 1, flagged: 1, complete: 2 });
    expect(s[1]).toMatchObject({ healthyAfterMs: undefined, failed: 0, flagged: 2, complete: 0 });
  });
});

describe('runFaultLoad', () => {
  let server: Server | undefined;
  afterAll(() => new Promise<void>((r) => (server ? server.close(() => r()) : r())));

  it('sends rate × duration requests on schedule, records each outcome, and times the way back to complete', async () => {
    let mode: 'ok' | 'down' | 'partial' = 'ok';
    server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        if (mode === 'down') {
          res.writeHead(503, { 'content-type': 'application/json' }).end('{"error":"down"}');
          return;
        }
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ hits: hits('a', 'b'), partial: mode === 'partial', degraded: mode === 'partial' ? ['shards-missing'] : [] }));
      });
    });
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', () => r()));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const report = await runFaultLoad({
      url,
      durationMs: 1_200,
      rate: 50,
      queries: [{ text: 'q', expected: ['a', 'b'] }],
      faults: [
        {
          name: 'down then flagged',
          atMs: 300,
          inject: () => {
            mode = 'down';
            setTimeout(() => (mode = 'partial'), 200);
            setTimeout(() => (mode = 'ok'), 500);
          },
        },
      ],
    });
    expect(report.records.length).toBe(60);
    const c = report.availability.counts;
    expect(c.failed, 'the 200 ms outage answered 503').toBeGreaterThan(0);
    expect(c.flagged, 'then flagged partial answers').toBeGreaterThan(0);
    expect(c.complete).toBeGreaterThan(0);
    expect(c.wrong).toBe(0);
    expect(report.availability.ratio).toBeCloseTo((c.complete + c.flagged) / 60, 10);
    const f = report.faults[0];
    expect(f.failed).toBe(c.failed);
    expect(f.healthyAfterMs, 'complete again only after the outage and the flagged stretch').toBeGreaterThanOrEqual(500);
    // every request before the fault was complete
    expect(report.records.filter((r) => r.at < 290).every((r) => r.outcome === 'complete')).toBe(true);
  });
});

describe('the write accounting', () => {
  it('classifies an attempt: 200 acknowledged; a 4xx (not 408/429) refused; 5xx, 408/429, no answer unknown', () => {
    expect(classifyWriteAttempt({ status: 200 })).toBe('acknowledged');
    expect(classifyWriteAttempt({ status: 400 })).toBe('refused');
    expect(classifyWriteAttempt({ status: 404 })).toBe('refused');
    for (const status of [503, 504, 500, 408, 429]) expect(classifyWriteAttempt({ status }), String(status)).toBe('unknown');
    expect(classifyWriteAttempt({ status: 0, error: 'ECONNREFUSED' })).toBe('unknown');
    expect(classifyWriteAttempt({ status: 200, error: 'body reset' })).toBe('unknown');
  });

  it('a write settles at its first acknowledged or refused attempt; all unknown is no outcome', () => {
    expect(writeVerdict(['unknown', 'unknown', 'acknowledged'])).toBe('acknowledged');
    expect(writeVerdict(['unknown', 'refused', 'acknowledged'])).toBe('refused');
    expect(writeVerdict(['unknown', 'unknown'])).toBe('no-outcome');
    expect(writeVerdict([])).toBe('no-outcome');
  });

  it('counts acknowledged writes lost (acknowledged, not held), jobs lost (no outcome), and the rest', () => {
    const r = accountWrites(
      [['acknowledged'], ['unknown', 'acknowledged'], ['acknowledged'], ['unknown', 'unknown'], ['refused'], ['unknown'], ['acknowledged']],
      [true, true, false, true, false, false, undefined],
    );
    expect(r).toMatchObject({
      jobs: 7,
      acknowledged: 4,
      firstAttemptAcknowledged: 3,
      acknowledgedLost: 1, // #2: acknowledged, held by no shard
      acknowledgedUnverified: 1, // #6: a shard did not answer
      refused: 1,
      jobsLost: 2, // #3 and #5: every attempt unknown
      appliedUnacknowledged: 1, // #3: held although never acknowledged
    });
  });

  it('per fault: the first acknowledged write sent after it, attempts by outcome until the next', () => {
    const a = (at: number, ms: number, outcome: WriteAttempt['outcome']): WriteAttempt => ({ write: 0, at, ms, status: outcome === 'acknowledged' ? 200 : 503, outcome });
    const s = summarizeWriteFaults([a(0, 10, 'acknowledged'), a(90, 500, 'acknowledged'), a(120, 5, 'unknown'), a(400, 50, 'acknowledged'), a(700, 5, 'refused')], [{ name: 'kill worker', atMs: 100 }, { name: 'restart Redis', atMs: 600 }], 1_000);
    // the attempt sent at 90 ms (before the kill) does not count, though it came back after it
    expect(s[0]).toMatchObject({ healthyAfterMs: 350, acknowledged: 1, unknown: 1, refused: 0 });
    expect(s[1]).toMatchObject({ healthyAfterMs: undefined, acknowledged: 0, refused: 1 });
  });
});

describe('ingestLoad', () => {
  let server: Server | undefined;
  afterAll(() => new Promise<void>((r) => (server ? server.close(() => r()) : r())));

  it('retries unknown outcomes with the same Idempotency-Key until acknowledged or refused, and accounts at the end', async () => {
    const seen = new Map<string, number>();
    const keys = new Map<string, Set<string>>();
    const applied = new Set<string>();
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (d) => (body += d));
      req.on('end', () => {
        const id = (JSON.parse(body) as { documents: { id: string }[] }).documents[0].id;
        const n = (seen.get(id) ?? 0) + 1;
        seen.set(id, n);
        keys.set(id, (keys.get(id) ?? new Set()).add(String(req.headers['idempotency-key'])));
        if (id === 'd1' && n === 1) {
          applied.add(id); // applied, the answer lost: the retry is acknowledged
          res.writeHead(504).end('{}');
        } else if (id === 'd2') res.writeHead(400).end('{}');
        else if (id === 'd3') res.writeHead(503).end('{}'); // never settles: no outcome
        else if (id === 'd4' && n === 1) req.socket.destroy();
        else {
          if (id !== 'd5') applied.add(id); // d5: acknowledged and then forgotten
          res.writeHead(200, { 'content-type': 'application/json' }).end('{"version":1}');
        }
      });
    });
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', () => r()));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const load = ingestLoad({
      url,
      rate: 1000,
      maxWrites: 6,
      doc: (i) => ({ id: `d${i}`, text: `w${i}` }),
      key: (i) => `k${i}`,
      held: async (ids) => ids.map((id) => applied.has(id)),
      retryDelayMs: 20,
      settleMs: 300,
    });
    load.start();
    for (let i = 0; i < 500 && seen.size < 6; i++) await new Promise((r) => setTimeout(r, 10)); // d0 … d5 sent
    const report = await load.stop();
    expect(report.jobs).toBe(6);
    expect(report).toMatchObject({ acknowledged: 4, refused: 1, jobsLost: 1, acknowledgedLost: 1, firstAttemptAcknowledged: 2 });
    expect(seen.get('d3')!, 'd3 sent again until the settling time ran out').toBeGreaterThan(3);
    for (const [id, k] of keys) expect([...k], `${id}: one key for all its attempts`).toEqual([`k${id.slice(1)}`]);
    expect(report.attempts!.length).toBe([...seen.values()].reduce((x, y) => x + y, 0));
  });
});
