/**
 * The load driver against a node:http server on 127.0.0.1 (port 0) that records every request body: the uniform
 * stream sends no query twice (warm-up included), the counts match what the server saw, and running past the
 * pre-built requests is reported. Throughput is not asserted.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { mulberry32 } from '../util/random.ts';
import { MAX_PREBUILT, prebuildSize, runLoad } from './driver.ts';
import { repeatWarning } from './format.ts';
import type { PhraseSource } from './workloads.ts';

/** 5,000 sentences of 20 made-up words: ~450k distinct 3–8-word phrases. */
function syntheticSource(): PhraseSource {
  const rand = mulberry32(11);
  const sentences: string[][] = [];
  for (let s = 0; s < 5000; s++) sentences.push(Array.from({ length: 20 }, () => `w${Math.floor(rand() * 3000)}`));
  return { sentences };
}

let server: Server;
let url: string;
let bodies: string[] = [];
let paths = new Set<string>();
/** The server's answer delay, ms (0: at once). */
let delayMs = 0;

beforeAll(async () => {
  server = createServer((req, res) => {
    const sink = bodies;
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      sink.push(body);
      paths.add(`${req.method} ${req.url} ${req.headers['content-type']}`);
      const answer = () => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{"hits":[]}');
      };
      if (delayMs > 0) setTimeout(answer, delayMs);
      else answer();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

beforeEach(async () => {
  // let requests still in flight from the previous test reach the server first
  await new Promise((r) => setTimeout(r, 100));
  bodies = [];
  paths = new Set();
  delayMs = 0;
});

describe('runLoad with pre-built requests', () => {
  const src = syntheticSource();
  const connections = 4;

  it('uniform: every query distinct across connections and warm-up, counts match the server', async () => {
    // the server answers after ~1 ms: at most ~4,000 requests a second on 4 connections, far from the 60,000 the
    // arrays hold for 2 s at 30,000/s (answering at once, it went past 31,000/s on a CI run and wrapped around them)
    delayMs = 1;
    let atMeasure = -1;
    const r = await runLoad({
      url,
      workload: 'uniform',
      duration: 1,
      warmup: 1,
      connections,
      maxQps: 30_000,
      src,
      log: (m) => {
        if (m.includes('measuring')) atMeasure = bodies.length;
      },
    });
    expect(atMeasure).toBeGreaterThan(0);
    expect([...paths]).toEqual(['POST /v1/query application/json']);
    expect(bodies.length).toBeGreaterThan(100);
    expect(new Set(bodies).size).toBe(bodies.length);
    expect(JSON.parse(bodies[0])).toMatchObject({ k: 10, mode: 'hybrid' });
    expect(r.repeated).toBe(0);
    expect(r.prebuilt).toBe(prebuildSize(30_000, connections, 2) * connections);
    // the server may see up to one request per connection more or less than was answered in the window
    const seen = bodies.length - atMeasure;
    expect(Math.abs(seen - r.requests)).toBeLessThanOrEqual(2 * connections);
    expect(r.samples?.length).toBe(r.requests);
    expect(r.non2xx).toBe(0);
    expect(r.errors).toBe(0);
    expect(r.statusCodes).toEqual({ 200: r.requests });
    expect(r.qps).toBeGreaterThan(r.requests / 1.5);
    expect(r.qps).toBeLessThan(r.requests / 0.8);
    expect(repeatWarning(r)).toBeUndefined();
  });

  it('uniform: running past the pre-built requests is reported', async () => {
    const r = await runLoad({ url, workload: 'uniform', duration: 1, warmup: 0, connections, maxQps: 40, src });
    expect(r.prebuilt).toBe(40);
    expect(r.repeated).toBeGreaterThan(0);
    expect(new Set(bodies).size).toBe(40);
    // every request beyond the 40 distinct ones is a repeat (give or take the ones in flight at the end)
    expect(Math.abs(bodies.length - 40 - r.repeated!)).toBeLessThanOrEqual(connections);
    expect(repeatWarning(r)).toMatch(/^WARNING: uniform stream repeated \d+ queries .*raise --max-qps$/);
    // no warm-up: the first response of each connection is counted but is not a latency sample
    expect(r.samples?.length).toBe(r.requests - connections);
  });

  it('sizes the slices for maxQps over warm-up + measurement, capped', () => {
    expect(prebuildSize(6000, 32, 18)).toBe(Math.ceil((6000 * 18) / 32));
    expect(prebuildSize(1e6, 10, 100)).toBe(MAX_PREBUILT / 10);
    expect(prebuildSize(1, 64, 1)).toBe(1);
  });
});
