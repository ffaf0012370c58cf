/**
 * Benchmark for 00-service-split: the monolith (`npm run serve`, one process) against the split engine (gateway +
 * embedder + 2 retriever shards, each its own process under the supervisor: what `npm run t4:up` starts), over HTTP
 * on loopback, on the same saved index (the Brown corpus, 6,498 chunks, exact vectors).
 * Run: npm run t4 -- --only 00-service-split [--quick] [--impl exercise]
 *
 * Headline: p99 latency under load (autocannon through shared/loadtest/driver.ts, distinct hybrid queries, no answer,
 * no results cache on either side), monolith and gateway measured in the same run, interleaved. Beside it: p50 and
 * QPS under the same load; the latency each hop adds with no load (sequential queries: the gateway's total against
 * the monolith's, and the gateway's own time in the embed call and in the shard fan-out); and failure isolation: one
 * shard SIGKILLed under a stream of queries (answered complete, partial or failed until it is back) against the
 * monolith's process killed (every query fails; nothing else holds the index).
 *
 * The timed call (the tinybench table) is one query over a kept-alive connection, through each path.
 */
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';
import { defineLesson, EXERCISE, type Metric } from '../../shared/lab/lesson.ts';
import { measured } from '../../shared/lab/metric.ts';
import { runLoad } from '../../shared/loadtest/driver.ts';
import { brownPhraseSource, distinctPhrases, type PhraseSource } from '../../shared/loadtest/workloads.ts';
import { ensureSplitIndex, startSplit, type Split } from '../../shared/services/cli-up.ts';
import type { Service } from '../../shared/services/supervisor.ts';
import { startMonolith } from './before.ts';

const HEADLINE = 'p99 latency under load';
const EXERCISE_FILE = fileURLToPath(new URL('./exercise.ts', import.meta.url));

interface Size {
  shards: number;
  /** autocannon connections, warm-up and measured seconds per target and round. */
  connections: number;
  warmup: number;
  duration: number;
  /** Load rounds; each round runs every target once, in turn. */
  rounds: number;
  /** Sequential queries per target for the no-load hop costs. */
  sequential: number;
  /** How long queries keep coming after a kill, ms. */
  killWindowMs: number;
}

interface Target {
  name: string;
  url: string;
  pool: Pool;
}

interface Input {
  size: Size;
  split: Split;
  exerciseGateway?: Service;
  monolith: { url: string; pid: number; close(): Promise<void> };
  targets: Target[];
  src: PhraseSource;
  phrases: string[];
  next: number;
}

async function query(t: Target, text: string): Promise<{ status: number; body: any; ms: number }> {
  const t0 = performance.now();
  const res = await t.pool.request({
    method: 'POST',
    path: '/v1/query',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query: text, k: 10, mode: 'hybrid', answer: false }),
  });
  const body = await res.body.json();
  return { status: res.statusCode, body, ms: performance.now() - t0 };
}

function oneQuery(input: Input, name: string): Promise<unknown> {
  const t = input.targets.find((x) => x.name === name)!;
  return query(t, input.phrases[input.next++ % input.phrases.length]);
}

/** Queries one after another for `ms`; counts complete, partial and failed answers. */
async function streamDuring(t: Target, phrases: string[], ms: number): Promise<{ complete: number; partial: number; failed: number }> {
  const out = { complete: 0, partial: 0, failed: 0 };
  const until = performance.now() + ms;
  for (let i = 0; performance.now() < until; i++) {
    try {
      const r = await query(t, phrases[i % phrases.length]);
      if (r.status !== 200) out.failed++;
      else if (r.body.partial === true) out.partial++;
      else out.complete++;
    } catch {
      out.failed++;
      await new Promise((r) => setTimeout(r, 5));
    }
  }
  return out;
}

export default defineLesson<Size, Input>({
  id: 't4/00-service-split',
  title: 'Service split: one process vs gateway + embedder + retriever shards as separate processes',
  workload:
    'hybrid queries (k = 10, no answer, no results cache) over HTTP on loopback against the Brown index (6,498 chunks, exact vectors): ' +
    'the monolith (npm run serve, one process) and the split (gateway → embedder, then → every shard at once; each its own process). ' +
    'Headline: p99 under the same autocannon load, measured in turn in the same run. Also: the latency each hop adds without load, and what a killed process costs each',
  sizes: {
    quick: { shards: 2, connections: 8, warmup: 1, duration: 2, rounds: 1, sequential: 60, killWindowMs: 1_000 },
    full: { shards: 2, connections: 16, warmup: 3, duration: 10, rounds: 2, sequential: 500, killWindowMs: 3_000 },
  },
  setup: async (size, ctx) => {
    ctx.log('index: .cache/idx-brown-flat (built from the Brown corpus on first use, ~6 s)');
    const index = await ensureSplitIndex(undefined, ctx.log);
    ctx.log(`starting the monolith and the split (${size.shards} shards, embedder, gateway)…`);
    const [monolith, split] = await Promise.all([
      startMonolith(index),
      startSplit({ index, shards: size.shards, port: 0, supervisor: { log: () => {}, forwardStderr: false } }),
    ]);
    let exerciseGateway: Service | undefined;
    try {
      if (ctx.exercise) exerciseGateway = await split.addGateway('gateway-exercise', EXERCISE_FILE);
    } catch (err) {
      ctx.log(`exercise: its gateway did not start: ${(err as Error).message}`);
    }
    const pool = (url: string) => new Pool(url, { connections: 4 });
    const targets: Target[] = [
      { name: 'before', url: monolith.url, pool: pool(monolith.url) },
      { name: 'after', url: split.url, pool: pool(split.url) },
      ...(exerciseGateway ? [{ name: EXERCISE, url: exerciseGateway.url, pool: pool(exerciseGateway.url) }] : []),
    ];
    const src = await brownPhraseSource();
    const gen = distinctPhrases(src, 11);
    const phrases = Array.from({ length: 2_000 }, () => gen.next().value as string);
    // warm both paths (JIT, connections)
    for (const t of targets) for (let i = 0; i < 10; i++) await query(t, phrases[i]);
    return { size, split, exerciseGateway, monolith, targets, src, phrases, next: 0 };
  },
  teardown: async (input) => {
    await Promise.all(input.targets.map((t) => t.pool.close()));
    await Promise.all([input.split.stop(), input.monolith.close()]);
  },
  baseline: 'before',
  headline: { name: HEADLINE, unit: 'ms', better: 'lower', metric: HEADLINE },
  variants: {
    before: (input) => oneQuery(input, 'before'),
    after: (input) => oneQuery(input, 'after'),
  },
  exercise: (input) => (input.exerciseGateway ? oneQuery(input, EXERCISE) : undefined),
  // the per-call table is not the headline: a few calls per variant keep the run short
  options: { iterations: 20, time: 100, warmupTime: 30 },
  extras: async (input, ctx) => {
    const { size } = input;
    const metrics: Metric[] = [];
    const label = (n: string) => (n === 'before' ? 'monolith' : n === 'after' ? 'gateway' : 'exercise gateway');

    // 1. under load, in turn, same run
    const samples = new Map<string, number[]>();
    const qps = new Map<string, number[]>();
    const bad = new Map<string, number>();
    const load0 = `${size.connections} connections, ${size.duration} s measured after ${size.warmup} s warm-up, ${size.rounds} round(s), distinct Brown phrases, hybrid k = 10`;
    for (let round = 0; round < size.rounds; round++) {
      for (const t of input.targets) {
        ctx.log(`load round ${round + 1}/${size.rounds}: ${label(t.name)} (${load0})`);
        const r = await runLoad({
          url: t.url,
          workload: 'uniform',
          duration: size.duration,
          warmup: size.warmup,
          connections: size.connections,
          src: input.src,
          stream: { k: 10, mode: 'hybrid', answer: false },
          maxQps: 2_000,
        });
        samples.set(t.name, [...(samples.get(t.name) ?? []), ...(r.samples ?? [])]);
        qps.set(t.name, [...(qps.get(t.name) ?? []), r.qps]);
        bad.set(t.name, (bad.get(t.name) ?? 0) + r.non2xx + r.errors + r.timeouts);
      }
    }
    for (const t of input.targets) {
      const v = { variant: t.name };
      const s = samples.get(t.name) ?? [];
      if (s.length === 0) continue;
      const q = qps.get(t.name)!;
      metrics.push(
        measured(HEADLINE, 'ms', s, { ...v, stat: 'p99', note: `${label(t.name)}; ${s.length} answers; ${load0}` }),
        measured('p50 latency under load', 'ms', s, { ...v, stat: 'median' }),
        { name: 'throughput under load', value: q.reduce((a, b) => a + b, 0) / q.length, unit: 'QPS', ...v, note: `mean of ${q.length} round(s): ${q.map((x) => x.toFixed(0)).join(', ')}` },
        { name: 'non-2xx or failed under load', value: bad.get(t.name) ?? 0, unit: 'requests', ...v },
      );
    }

    // 2. what each hop adds, no load: one query at a time (and whether the answers are the monolith's)
    const embedMs: number[] = [];
    const fanoutMs: number[] = [];
    const reference: string[] = [];
    const hitsOf = (body: any) => JSON.stringify((body.hits ?? []).map((h: { chunkId: string; score: number }) => [h.chunkId, h.score]));
    for (const t of input.targets) {
      const lat: number[] = [];
      let differ = 0;
      for (let i = 0; i < size.sequential; i++) {
        const r = await query(t, input.phrases[(i * 7) % input.phrases.length]);
        if (t.name === 'before') reference.push(hitsOf(r.body));
        else if (hitsOf(r.body) !== reference[i]) differ++;
        lat.push(r.ms);
        if (t.name === 'after') {
          embedMs.push(r.body.timings.embed ?? 0);
          fanoutMs.push(r.body.timings.fanout);
        }
      }
      metrics.push(
        measured('latency, one query at a time (p50)', 'ms', lat, { variant: t.name, stat: 'median', note: `${size.sequential} sequential queries, ${label(t.name)}` }),
        measured('latency, one query at a time (p99)', 'ms', lat, { variant: t.name, stat: 'p99' }),
      );
      if (t.name !== 'before') {
        metrics.push({ name: 'answers different from the monolith’s', value: differ, unit: 'queries', variant: t.name, note: `of ${size.sequential}: hits (chunk, score) compared` });
      }
    }
    metrics.push(
      measured('gateway: embed hop (p50)', 'ms', embedMs, { variant: 'after', stat: 'median', note: 'the gateway’s call to the embedder service, as it timed it' }),
      measured('gateway: shard fan-out hop (p50)', 'ms', fanoutMs, { variant: 'after', stat: 'median', note: 'the gateway’s calls to every shard at once, as it timed them' }),
    );

    // 3. failure isolation: one shard killed (split), the one process killed (monolith)
    const gw = input.targets.find((t) => t.name === 'after')!;
    const victim = input.split.shards[input.split.shards.length - 1];
    ctx.log(`failure: SIGKILL shard-${input.split.shards.length - 1} (pid ${victim.pid}), queries for ${size.killWindowMs} ms`);
    process.kill(victim.pid!, 'SIGKILL');
    const t0 = performance.now();
    // when it is back, watched beside the stream of queries
    const back = (async () => {
      while (!(victim.restarts >= 1 && victim.state === 'ready') && performance.now() - t0 < 15_000) await new Promise((r) => setTimeout(r, 20));
      return performance.now() - t0;
    })();
    const g = await streamDuring(gw, input.phrases, size.killWindowMs);
    const backMs = await back;
    const mono = input.targets.find((t) => t.name === 'before')!;
    ctx.log(`failure: SIGKILL the monolith (pid ${input.monolith.pid}), queries for ${size.killWindowMs} ms`);
    await input.monolith.close();
    const m = await streamDuring(mono, input.phrases, size.killWindowMs);
    const share = (x: { complete: number; partial: number; failed: number }) => x.complete + x.partial + x.failed;
    metrics.push(
      { name: 'queries answered with a process killed', value: (100 * (g.complete + g.partial)) / Math.max(1, share(g)), unit: '%', variant: 'after', note: `one shard SIGKILLed: ${g.complete} complete, ${g.partial} partial (flagged), ${g.failed} failed of ${share(g)} in ${size.killWindowMs} ms; the shard was back after ${backMs.toFixed(0)} ms` },
      { name: 'queries answered with a process killed', value: (100 * (m.complete + m.partial)) / Math.max(1, share(m)), unit: '%', variant: 'before', note: `the monolith SIGKILLed (no supervisor): ${m.failed} of ${share(m)} failed in ${size.killWindowMs} ms` },
      { name: 'shard back after SIGKILL', value: backMs, unit: 'ms', variant: 'after', note: 'supervisor restart (same port) until /readyz 200' },
    );
    return { metrics };
  },
});
