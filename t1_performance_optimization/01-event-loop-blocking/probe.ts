/**
 * The measurement the lesson is about: while heavy /search requests run, how long does a cheap GET /healthz take,
 * and how late does the server's event loop run (monitorEventLoopDelay)?
 *
 * The prober runs in a worker thread, with an event loop of its own, and sends a /healthz every `gapMs` whether or
 * not the previous ones came back (open loop). A prober on the server's own thread could not do that: while the
 * server's handler blocks, the prober's timers cannot fire either, so it would send nothing during the very stalls
 * it is there to see, and a prober that waits for each answer before sending the next sends one probe per stall
 * (coordinated omission). Sent on schedule from another thread, probes pile up during a stall and each one records
 * how long it waited.
 */
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';

export interface ProbeResult {
  /** Round-trip time of every /healthz answered while the heavy requests ran, in ms, in the order sent. */
  latencies: number[];
  /** /healthz requests that failed (connection refused or reset...). */
  errors: number;
  /** Event-loop delay of the server's thread over the scenario (monitorEventLoopDelay, 1 ms resolution), in ms. */
  loopP99Ms: number;
  loopMaxMs: number;
  /** Wall time until every /search answered. */
  heavyWallMs: number;
}

/**
 * The prober (plain JavaScript, evaluated in a worker thread): /healthz every gapMs until told to stop, over
 * keep-alive connections (a new one whenever every open one has a probe in flight, so probes never wait for each
 * other on the client side). Opening a connection per probe would measure the prober's own cost too: on a busy
 * machine, a thread that opens 500 connections a second falls behind and its probes look slow.
 */
const PROBER = `
const { parentPort, workerData } = require('node:worker_threads');
const { performance } = require('node:perf_hooks');
const http = require('node:http');
const { url, gapMs, maxProbes } = workerData;
const agent = new http.Agent({ keepAlive: true });
const latencies = [];
const inflight = new Set();
let errors = 0;
let sent = 0;
let timer;
function healthz() {
  return new Promise((resolve, reject) => {
    const req = http.get(url + '/healthz', { agent, timeout: 60000 }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error('status ' + res.statusCode))));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}
function probe() {
  if (sent >= maxProbes) return;
  sent++;
  const t0 = performance.now();
  const p = healthz()
    .then(() => { latencies.push(performance.now() - t0); }, () => { errors++; })
    .finally(() => inflight.delete(p));
  inflight.add(p);
}
parentPort.on('message', async (m) => {
  if (m === 'start') {
    probe();
    timer = setInterval(probe, gapMs);
  } else if (m === 'stop') {
    clearInterval(timer);
    await Promise.all([...inflight]);
    agent.destroy();
    parentPort.postMessage({ latencies, errors });
  }
});
// before the clock starts: load the http client and open a few connections, so the first probes measure the server
Promise.all(Array.from({ length: 8 }, healthz)).then(() => parentPort.postMessage('ready'), (err) => { throw err; });
`;

interface Prober {
  start(): void;
  /** Stop sending, wait for the probes in flight, and return every probe's round trip. */
  stop(): Promise<{ latencies: number[]; errors: number }>;
}

function startProber(url: string, gapMs: number, maxProbes: number): Promise<Prober> {
  const worker = new Worker(PROBER, { eval: true, workerData: { url, gapMs, maxProbes } });
  let failure: Error | undefined;
  let ready: (() => void) | undefined;
  let settle: { done: (r: { latencies: number[]; errors: number }) => void; fail: (err: Error) => void } | undefined;
  const onFailure = (err: Error) => {
    failure ??= err;
    settle?.fail(err);
  };
  worker.on('error', onFailure);
  worker.on('exit', (code) => onFailure(new Error(`the /healthz prober exited (code ${code})`)));
  worker.on('message', (m: 'ready' | { latencies: number[]; errors: number }) => {
    if (m === 'ready') ready?.();
    else {
      settle?.done(m);
      settle = undefined;
      void worker.terminate();
    }
  });
  const prober: Prober = {
    start: () => worker.postMessage('start'),
    stop: () =>
      new Promise((done, fail) => {
        if (failure) return fail(failure);
        settle = { done, fail };
        worker.postMessage('stop');
      }),
  };
  return new Promise((resolve, reject) => {
    ready = () => resolve(prober);
    settle = { done: () => undefined, fail: reject };
  });
}

/**
 * `heavy` clients each send `rounds` /search requests one after another; from just before the first until the last
 * answered, a prober in another thread sends a /healthz every `gapMs` (at most `maxProbes`).
 */
export async function probeWhileBusy(
  url: string,
  opts: { heavy: number; rounds?: number; docs: number; query: string; gapMs?: number; maxProbes?: number },
): Promise<ProbeResult> {
  const prober = await startProber(url, opts.gapMs ?? 2, opts.maxProbes ?? 5_000);
  const loop = monitorEventLoopDelay({ resolution: 1 });
  loop.enable();
  const t0 = performance.now();
  prober.start();
  let heavyWallMs = 0;
  let failure: unknown;
  try {
    await Promise.all(
      Array.from({ length: opts.heavy }, async () => {
        for (let r = 0; r < (opts.rounds ?? 1); r++) {
          const res = await fetch(`${url}/search?q=${encodeURIComponent(opts.query)}&docs=${opts.docs}`);
          if (!res.ok) throw new Error(`/search answered ${res.status}: ${await res.text()}`);
          await res.json();
        }
      }),
    );
    heavyWallMs = performance.now() - t0;
  } catch (err) {
    failure = err;
  }
  loop.disable();
  const { latencies, errors } = await prober.stop();
  if (failure !== undefined) throw failure;
  return { latencies, errors, loopP99Ms: loop.percentile(99) / 1e6, loopMaxMs: loop.max / 1e6, heavyWallMs };
}
