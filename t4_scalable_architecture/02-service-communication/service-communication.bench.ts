/**
 * Benchmark for 02-service-communication: the gateway's call to one shard (`shard.search`: query terms with their
 * collection statistics, a 100-d float32 query vector, k = 10 → 10 BM25 and 10 cosine (label, score) pairs), to a
 * real shard (Bm25Shard + FlatIndex over shard 0 of 2 of the Brown chunks) running in a process of its own
 * (shard-process.ts), over each transport:
 *
 *   before                          fetch + JSON (Node 20's fetch: kept alive by undici's global Agent)
 *   http: new connection per call   http.request with agent: false + JSON (a TCP handshake per call)
 *   http: undici Pool               http-rpc.ts: a pool of 16 kept-alive connections + JSON
 *   grpc: JSON bytes                grpc-rpc.ts with no codec: HTTP/2 framing, JSON payload
 *   after                           grpc-rpc.ts + protobuf (shard.proto: packed floats, packed label/score columns)
 *   nats: protobuf                  nats-rpc.ts request-reply through the local nats-server, same protobuf
 *                                   (left out, with the reason, when no NATS server answers)
 *
 * Headline: calls per second with 16 clients each keeping one call in flight (a gateway fanning out to shards under
 * load): 4 trials in a quick run, 5 in a full one, interleaved with the other variants (round r runs every variant
 * once, in a rotated order), mean ± s.e., after an untimed warm-up of every path. Beside it: latency p50 and p99
 * with one client (sequential calls, in the same rounds); the bytes on the wire per call (request + response
 * payload through a counting TCP proxy, headers and framing included, TCP/IP headers not) and the connections
 * opened; and the codec's own CPU per call. Why throughput leads: on one machine the transports differ by the CPU
 * each call costs in both processes (handshakes, HTTP parsing, framing, printing and parsing numbers), and
 * concurrency is where that cost becomes capacity; the byte counts do not depend on the machine and say what a real
 * network would add.
 *
 * Run: npm run t4 -- --only 02-service-communication [--quick] [--impl exercise]
 */
import { fileURLToPath } from 'node:url';
import { defineLesson, EXERCISE, type Metric, type VariantFn } from '../../shared/lab/lesson.ts';
import { measured } from '../../shared/lab/metric.ts';
import { grpcRpcClient, type MethodCodec } from '../../shared/services/grpc-rpc.ts';
import { httpRpcClient } from '../../shared/services/http-rpc.ts';
import { natsRpcClient, natsSkipReason, NATS_URL } from '../../shared/services/nats-rpc.ts';
import type { RpcClient } from '../../shared/services/rpc.ts';
import * as after from './after.ts';
import * as before from './before.ts';
import { SEARCH, type ShardEndpoints, type ShardSearchRequest, type ShardSearchResponse } from './search.ts';
import { startShardProcess, type ShardProcess } from './shard-process.ts';
import { perCallHttpClient, startByteCounter } from './transports.ts';
import { RIGHT, wireCodec } from './wire-codec.ts';

type Mod = typeof after;

interface Size {
  /** Brown chunks in the collection (the shard holds about half). */
  chunks: number;
  /** Query sentences (requests), used round robin. */
  queries: number;
  k: number;
  /** Sequential calls for this long in all, per variant (latency at 1 client), split over the trial rounds. */
  latencyMs: number;
  /** Concurrent clients (calls in flight) for the throughput figure. */
  clients: number;
  /** Length of one throughput trial, and how many (each trial round also takes latencyMs / trials of latency). */
  trialMs: number;
  trials: number;
  /** Untimed load per variant before anything is measured (JIT warm-up in both processes). */
  warmMs: number;
  /** Sequential calls through the byte-counting proxy. */
  byteCalls: number;
  /** Encode + decode round trips per repetition when timing the codecs alone. */
  codecCalls: number;
}

const HEADLINE = 'throughput, 16 clients';
const SECRET = 'lab-t4-02-internal-token';
const NEW_CONN = 'http: new connection per call';
const POOL = 'http: undici Pool';
const GRPC_JSON = 'grpc: JSON bytes';
const NATS = 'nats: protobuf';

const natsSkip = await natsSkipReason();

/** How each variant connects, given where the shard (or a proxy in front of it) answers. */
interface Route {
  http: string;
  grpc: Record<string, string>;
  nats?: { servers: string; subject: string };
}

/** JSON transports send JSON.stringify(request): a Float32Array would become an object keyed "0".."99". */
const jsonReady = (r: ShardSearchRequest) => ({ ...r, vector: Array.from(r.vector) });

type Maker = (route: Route) => { client: RpcClient; send: (r: ShardSearchRequest) => unknown };

function makers(exercise?: Mod): Record<string, Maker> {
  const ep = (route: Route, codec: string): ShardEndpoints => ({ http: route.http, grpc: route.grpc[codec] });
  const m: Record<string, Maker> = {
    before: (route) => ({ client: before.connect(ep(route, 'after'), { secret: SECRET }), send: (r) => r }),
    [NEW_CONN]: (route) => ({ client: perCallHttpClient(route.http, { secret: SECRET }), send: (r) => r }),
    [POOL]: (route) => ({ client: httpRpcClient(route.http, { secret: SECRET, connections: 16 }), send: jsonReady }),
    [GRPC_JSON]: (route) => ({ client: grpcRpcClient(route.grpc.json, { secret: SECRET }), send: jsonReady }),
    after: (route) => ({ client: after.connect(ep(route, 'after'), { secret: SECRET }), send: (r) => r }),
  };
  if (!natsSkip) {
    m[NATS] = (route) => ({
      client: natsRpcClient({ servers: route.nats!.servers, subject: route.nats!.subject, secret: SECRET, codecs: { [SEARCH]: after.searchCodec } }),
      send: (r) => r,
    });
  }
  if (exercise) m[EXERCISE] = (route) => ({ client: exercise.connect(ep(route, EXERCISE), { secret: SECRET }), send: (r) => r });
  return m;
}

interface Input {
  size: Size;
  shard: ShardProcess;
  route: Route;
  makers: Record<string, Maker>;
  /** One open client per variant, for the timed calls and the latency and throughput runs. */
  clients: Map<string, { client: RpcClient; send: (r: ShardSearchRequest) => unknown }>;
  next: number;
}

function request(input: Input): ShardSearchRequest {
  const r = input.shard.requests[input.next % input.shard.requests.length];
  input.next++;
  return r;
}

async function once(input: Input, variant: string): Promise<void> {
  const c = input.clients.get(variant)!;
  const res = await c.client.call<{ text: unknown[]; dense: unknown[] }>(SEARCH, c.send(request(input)));
  if (res.dense.length !== input.size.k) throw new Error(`${variant}: ${res.dense.length} dense hits, asked for ${input.size.k}`);
}

const variantFns: Record<string, VariantFn<Input>> = {};
for (const name of Object.keys(makers())) variantFns[name] = (input) => once(input, name);

export default defineLesson<Size, Input>({
  id: 't4/02-service-communication',
  title: 'Service communication: HTTP/JSON (a connection per call, fetch, a pool) vs gRPC + protobuf vs NATS request-reply, gateway → shard',
  workload:
    'the gateway→shard search call (terms + collection statistics + a 100-d float32 vector + k = 10 → 10 BM25 and 10 cosine (label, score) pairs) ' +
    'to a real shard (Bm25Shard + FlatIndex over half the Brown chunks) in a separate process, over each transport. Headline: calls/s at 16 clients; ' +
    'beside it latency p50/p99 at 1 client and bytes on the wire per call (a counting TCP proxy)',
  sizes: {
    quick: { chunks: 2_000, queries: 50, k: 10, latencyMs: 300, clients: 16, trialMs: 200, trials: 4, warmMs: 100, byteCalls: 20, codecCalls: 500 },
    full: { chunks: 6_000, queries: 200, k: 10, latencyMs: 3_000, clients: 16, trialMs: 1_500, trials: 5, warmMs: 1_000, byteCalls: 100, codecCalls: 3_000 },
  },
  setup: async (size, ctx) => {
    if (natsSkip) ctx.log(`${NATS} left out: ${natsSkip}`);
    const exercise = ctx.exercise as Mod | undefined;
    const codecModules: Record<string, string> = { after: fileURLToPath(new URL('./after.ts', import.meta.url)) };
    if (exercise) codecModules[EXERCISE] = fileURLToPath(new URL('./exercise.ts', import.meta.url));
    ctx.log(`starting the shard process (${size.chunks} Brown chunks, shard 0 of 2)`);
    const shard = await startShardProcess({ chunks: size.chunks, queries: size.queries, k: size.k, secret: SECRET, codecModules, nats: !natsSkip }, ctx.log);
    ctx.log(`shard pid ${shard.pid}: ${shard.held} of ${shard.total} chunks, built in ${(shard.buildMs / 1000).toFixed(1)} s`);
    const route: Route = { http: shard.http, grpc: shard.grpc, ...('subject' in shard.nats ? { nats: { servers: NATS_URL(), subject: shard.nats.subject } } : {}) };
    const input: Input = { size, shard, route, makers: makers(exercise), clients: new Map(), next: 0 };
    try {
      for (const [name, make] of Object.entries(input.makers)) {
        input.clients.set(name, make(route));
        for (let i = 0; i < 3; i++) await once(input, name); // connect and warm up
      }
    } catch (err) {
      for (const c of input.clients.values()) await c.client.close();
      await shard.stop();
      throw err;
    }
    return input;
  },
  teardown: async (input) => {
    for (const c of input.clients.values()) await c.client.close();
    await input.shard.stop();
  },
  baseline: 'before',
  headline: { name: HEADLINE, unit: 'req/s', better: 'higher', metric: HEADLINE },
  variants: variantFns,
  exercise: (input) => once(input, EXERCISE),
  options: { iterations: 20, time: 100, warmupTime: 20 },
  extras: async (input, ctx) => {
    const { size } = input;
    const metrics: Metric[] = [];
    const variants = [...input.clients.keys()];
    const failed = new Map<string, string>();
    /** Runs `fn` for every variant still standing, in an order rotated by `round` (so no variant always goes first). */
    const eachVariant = async (round: number, fn: (variant: string) => Promise<void>) => {
      for (let i = 0; i < variants.length; i++) {
        const variant = variants[(i + round) % variants.length];
        if (failed.has(variant)) continue;
        try {
          await fn(variant);
        } catch (err) {
          if (variant !== EXERCISE) throw err;
          failed.set(variant, (err as Error).message);
          ctx.log(`exercise: ${(err as Error).message}`);
        }
      }
    };
    /** `clients` loops, each with one call in flight, for `ms`: calls per second. */
    const loadFor = async (variant: string, ms: number): Promise<number> => {
      let done = 0;
      const t0 = performance.now();
      const stop = t0 + ms;
      await Promise.all(
        Array.from({ length: size.clients }, async () => {
          while (performance.now() < stop) {
            await once(input, variant);
            done++;
          }
        }),
      );
      return (done * 1000) / (performance.now() - t0);
    };
    // warm every path in both processes (JIT) before anything is measured
    await eachVariant(0, async (variant) => void (await loadFor(variant, size.warmMs)));
    // latency at 1 client and throughput at `clients`, interleaved: round r gives every variant its turn
    const lat = new Map<string, number[]>(variants.map((v) => [v, []]));
    const rates = new Map<string, number[]>(variants.map((v) => [v, []]));
    for (let r = 0; r < size.trials; r++) {
      await eachVariant(r, async (variant) => {
        const end = performance.now() + size.latencyMs / size.trials;
        while (performance.now() < end) {
          const t0 = performance.now();
          await once(input, variant);
          lat.get(variant)!.push(performance.now() - t0);
        }
        rates.get(variant)!.push(await loadFor(variant, size.trialMs));
      });
    }
    // bytes: a fresh client of each variant through a counting proxy in front of the same server
    await eachVariant(0, async (variant) => {
      const upstream =
        variant === NATS ? NATS_URL() : variant === GRPC_JSON ? input.route.grpc.json : variant === 'after' ? input.route.grpc.after : variant === EXERCISE ? input.route.grpc[EXERCISE] : input.route.http;
      const proxy = await startByteCounter(upstream);
      const via: Route = {
        http: `http://${proxy.address}`,
        grpc: Object.fromEntries(Object.keys(input.route.grpc).map((k) => [k, proxy.address])),
        ...(input.route.nats ? { nats: { servers: proxy.address, subject: input.route.nats.subject } } : {}),
      };
      const counted = input.makers[variant](via);
      const req = (i: number) => counted.send(input.shard.requests[i % input.shard.requests.length]);
      let bytes: { up: number; down: number; connections: number };
      try {
        for (let i = 0; i < 3; i++) await counted.client.call(SEARCH, req(i));
        await new Promise((r) => setTimeout(r, 20));
        proxy.reset();
        for (let i = 0; i < size.byteCalls; i++) await counted.client.call(SEARCH, req(i));
        await new Promise((r) => setTimeout(r, 20));
        bytes = proxy.counts();
      } finally {
        await counted.client.close();
        await proxy.close();
      }
      const n = size.byteCalls;
      const v = { variant };
      metrics.push(
        measured(HEADLINE, 'req/s', rates.get(variant)!, {
          ...v,
          note: `${size.clients} clients, each one call in flight; ${size.trials} trials of ${size.trialMs} ms, interleaved with the other variants; machine shared`,
        }),
        measured('latency p50, 1 client', 'ms', lat.get(variant)!, { ...v, stat: 'median' }),
        measured('latency p99, 1 client', 'ms', lat.get(variant)!, { ...v, stat: 'p99', note: `${lat.get(variant)!.length} sequential calls` }),
        {
          name: 'bytes on the wire per call',
          value: (bytes.up + bytes.down) / n,
          unit: 'bytes',
          ...v,
          note:
            `request ${(bytes.up / n).toFixed(0)} + response ${(bytes.down / n).toFixed(0)}, payload through a counting proxy (headers and framing included), ${n} calls` +
            (variant === NATS ? '; the client↔broker hop only: the broker sends about as much again to the shard' : ''),
        },
        { name: 'connections opened per call', value: bytes.connections / n, unit: 'connections', ...v, note: `${bytes.connections} for ${n} sequential calls, after 3 warm-up calls` },
      );
    });
    // the codec's own CPU: encode + decode of a request and of its response, in this process, per call
    const answers = (await Promise.all(
      input.shard.requests.slice(0, 20).map((r) => input.clients.get('after')!.client.call<ShardSearchResponse>(SEARCH, r)),
    )) as ShardSearchResponse[];
    const codecCost = (codec: MethodCodec<ShardSearchRequest, ShardSearchResponse>): number[] => {
      const out: number[] = [];
      for (let rep = 0; rep < 6; rep++) {
        const t0 = performance.now();
        for (let i = 0; i < size.codecCalls; i++) {
          codec.decodeRequest(codec.encodeRequest(input.shard.requests[i % answers.length]));
          codec.decodeResponse(codec.encodeResponse(answers[i % answers.length]));
        }
        if (rep > 0) out.push((performance.now() - t0) / size.codecCalls); // the first repetition warms up
      }
      return out;
    };
    const byHand = codecCost(wireCodec(RIGHT));
    const codecs: [string, MethodCodec<ShardSearchRequest, ShardSearchResponse>, string][] = [
      ['before', before.searchCodec, 'JSON.stringify / JSON.parse; the other JSON rows pay the same'],
      ['after', after.searchCodec, `protobuf through proto-loader (protobufjs); nats: protobuf pays the same; the same bytes written by hand (wire-codec.ts): ${(1000 * byHand.reduce((a, b) => a + b, 0) / byHand.length).toFixed(1)} µs`],
    ];
    const ex = ctx.exercise as Mod | undefined;
    if (ex && !failed.has(EXERCISE)) codecs.push([EXERCISE, ex.searchCodec, "the learner's searchCodec"]);
    for (const [variant, codec, note] of codecs) {
      metrics.push(measured('codec CPU per call (encode + decode, request and response)', 'ms', codecCost(codec), { variant, note: `${note}; ${size.codecCalls} calls × 5` }));
    }
    if (natsSkip) metrics.push({ name: `${NATS} row`, value: 0, unit: 'variants run', note: natsSkip });
    return { metrics };
  },
});
