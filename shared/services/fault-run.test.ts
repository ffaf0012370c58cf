/**
 * fault-run.ts: how an answer is judged (complete / flagged / failed / wrong), availability, the per-fault summary,
 * and the open-loop run itself against a small HTTP server on 127.0.0.1 that fails on cue (a "fault" switches it to
 * 503 for a while, then to flagged partial answers, then back).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { availability, classifyAnswer, runFaultLoad, summarizeFaults, type RequestRecord } from './fault-run.ts';

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
