/**
 * The split engine's write path with real processes: the embedder, 2 retriever shards following the write log
 * (NATS JetStream) and the ingest worker (BullMQ on Redis), each its own process; the gateway in this process with
 * the write routes (gateway-writes.ts). A monolith engine on the same saved index takes the same writes.
 *
 * - ingested through POST /v1/documents, the documents are found, and every answer equals the monolith's; deletes
 *   remove them; a bad batch is a 400 and nothing is written; a delete of an unknown id is a 404 and nothing is written;
 * - the ingest worker SIGKILLed while writes stream in and started again: every acknowledged write is present, every
 *   request is acknowledged in the end, and no label is given out twice in the stream;
 * - a shard SIGKILLed and started again (same port) replays the stream from its snapshot (the saved index) before it
 *   answers, takes a write acknowledged while it was down, and answers complete and as before.
 *
 * Needs NATS with JetStream and Redis; skips with the reason when either is unreachable.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadBrown } from '../corpus/brown.ts';
import { loadEngine, type Engine } from '../engine.ts';
import { REPO_ROOT } from '../util/paths.ts';
import { ensureSplitIndex } from './cli-up.ts';
import { createGatewayApp, Gateway } from './gateway.ts';
import { attachWrites, type followStats, type SplitWriteQueue } from './gateway-writes.ts';
import { indexWriteInfo, queueName, redisSkipReason, REDIS_URL } from './ingest-worker.ts';
import { httpRpcClient } from './http-rpc.ts';
import { connectNats, deleteWriteLog, logNames, natsSkipReason } from './jetstream-log.ts';
import type { RpcClient } from './rpc.ts';
import type { SplitWriteOp } from './shard-writes.ts';

const skipReason = (await natsSkipReason()) ?? (await redisSkipReason());
if (skipReason) console.warn(`split-writes test skipped: ${skipReason}`);

const SECRET = 'split-writes-secret-0123456789';
const LOG = `t4w_${process.pid}_${randomBytes(3).toString('hex')}`;
const K = 10;

interface Proc {
  child: ChildProcess;
  url: string;
  args: string[];
  script: string;
}
const procs = new Set<ChildProcess>();

/** Forks a service with tsx, resolves with its URL once it says it listens. */
function startProc(script: string, args: string[]): Promise<Proc> {
  const child = fork(script, args, { cwd: REPO_ROOT, execArgv: ['--import', 'tsx'], env: { ...process.env, RAG_INTERNAL_TOKEN: SECRET }, stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
  procs.add(child);
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  child.once('exit', () => procs.delete(child));
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${script} did not start in 60 s: ${err}`)), 60_000);
    child.on('message', (m: { type?: string; url?: string }) => {
      if (m?.type === 'listening' && m.url) {
        clearTimeout(t);
        resolve({ child, url: m.url, args, script });
      }
    });
    child.once('exit', (code, sig) => {
      clearTimeout(t);
      reject(new Error(`${script} exited (${code ?? sig}) before listening: ${err}`));
    });
  });
}

async function kill9(p: Proc): Promise<void> {
  const exited = new Promise((r) => p.child.once('exit', r));
  p.child.kill('SIGKILL');
  await exited;
}

let index: string;
let monolith: Engine;
let embedder: Proc;
let shards: Proc[] = [];
let worker: Proc;
let clients: RpcClient[] = [];
let gateway: Gateway;
let app: FastifyInstance;
let url: string;
let queue: SplitWriteQueue;
let nc: NatsConnection;
let follower: ReturnType<typeof followStats> | undefined;
let writes: Awaited<ReturnType<typeof attachWrites>> | undefined;
let texts: string[] = [];
let nextDoc = 0;

/** A new document: a Brown text's paragraphs in reverse order, with a word of its own (`marker`) in its title. */
function newDoc(marker: string) {
  const t = texts[nextDoc++ % texts.length];
  const text = t.split(/\n\s*\n/).reverse().join('\n\n');
  return { id: `new/${marker}`, title: `${marker} report`, text, metadata: { source: 'split-writes' } };
}

// a short job lock (a killed worker's job runs again ~2 s later) and each job held open 400 ms after its op was applied
const workerArgs = () => ['--index', index, '--embedder', embedder.url, '--log', LOG, '--redis', REDIS_URL, '--lock-ms', '2000', '--hold-ms', '400'];

async function post(path: string, body: unknown, method = 'POST', headers: Record<string, string> = {}): Promise<{ status: number; body: any }> {
  const res = await fetch(`${url}${path}`, {
    method,
    headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(60_000),
  });
  return { status: res.status, body: await res.json() };
}

const fmt = (hits: { chunkId: string; score: number }[]) => hits.map((h) => `${h.chunkId}:${h.score}`);

async function search(query: string, mode = 'hybrid'): Promise<{ partial: boolean; hits: string[]; docIds: string[] }> {
  const r = await post('/v1/query', { query, k: K, mode });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return { partial: r.body.partial, hits: fmt(r.body.hits), docIds: r.body.hits.map((h: { docId: string }) => h.docId) };
}

async function monolithHits(query: string, mode: 'hybrid' | 'bm25' | 'dense' = 'hybrid'): Promise<string[]> {
  return fmt((await monolith.query(query, { k: K, mode, answer: false })).hits);
}

/** Every op of the stream, in order. */
async function streamOps(): Promise<{ seq: number; op: SplitWriteOp }[]> {
  const jsm = await jetstreamManager(nc);
  const names = logNames(LOG);
  const last = (await jsm.streams.info(names.stream)).state.last_seq;
  const out: { seq: number; op: SplitWriteOp }[] = [];
  for (let seq = 1; seq <= last; seq++) {
    const m = await jsm.streams.getMessage(names.stream, { seq });
    if (m) out.push({ seq, op: m.json<SplitWriteOp>() });
  }
  return out;
}

beforeAll(async () => {
  if (skipReason) return;
  index = await ensureSplitIndex();
  texts = (await loadBrown({ limit: 40 })).map((d) => d.text);
  nc = await connectNats();
  await deleteWriteLog(nc, LOG);
  const shardArgs = (i: number) => ['--index', index, '--shard', String(i), '--shards', '2', '--log', LOG];
  [embedder, ...shards] = await Promise.all([
    startProc('shared/services/embedder-service.ts', ['--index', index]),
    startProc('shared/services/shard-service.ts', shardArgs(0)),
    startProc('shared/services/shard-service.ts', shardArgs(1)),
  ]);
  worker = await startProc('shared/services/ingest-worker.ts', workerArgs());
  monolith = await loadEngine(index, { llm: null });
  clients = shards.map((s) => httpRpcClient(s.url, { secret: SECRET }));
  gateway = new Gateway({ shards: clients, embedder: httpRpcClient(embedder.url, { secret: SECRET }), shardDeadlineMs: 10_000, embedDeadlineMs: 10_000 });
  await gateway.init();
  app = await createGatewayApp(gateway, { auth: false });
  // what gateway.ts's startGateway does with RAG_WRITE_LOG set
  writes = await attachWrites(app, gateway, { log: LOG, timeoutMs: 45_000 });
  queue = writes.queue;
  follower = writes.follower;
  await app.listen({ port: 0, host: '127.0.0.1' });
  url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
}, 120_000);

afterAll(async () => {
  await app?.close().catch(() => {});
  await writes?.close();
  await gateway?.close().catch(() => {});
  for (const c of procs) c.kill('SIGKILL');
  if (!skipReason) {
    const { Queue } = await import('bullmq');
    const { redisConnection } = await import('../util/redis.ts');
    const q = new Queue(queueName(LOG), { connection: redisConnection(REDIS_URL) });
    await q.obliterate({ force: true }).catch(() => {});
    await q.close();
  }
  if (nc) {
    await deleteWriteLog(nc, LOG).catch(() => {});
    await nc.close();
  }
}, 30_000);

describe.skipIf(skipReason !== undefined)('the split write path (gateway → BullMQ → ingest worker → JetStream → shards)', () => {
  it('ingests and deletes through the gateway: answers equal a monolith that took the same writes; bad writes change nothing', async () => {
    const batches = [
      [newDoc('quokkaalpha'), newDoc('quokkabeta'), newDoc('quokkagamma')],
      [newDoc('quokkadelta'), newDoc('quokkaepsilon')],
    ];
    const queries = ['quokkaalpha report', 'quokkadelta', 'quokkabeta jury election', 'the religious experience of faith', ...batches.flat().map((d) => d.text.split(/\s+/).slice(5, 11).join(' '))];
    let version = 0;
    for (const docs of batches) {
      const r = await post('/v1/documents', { documents: docs });
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      expect(r.body.version).toBe(++version);
      expect(r.body.documents).toBe(docs.length);
      expect(r.body.replaced).toBe(0);
      const m = await monolith.ingest(docs);
      expect(r.body.chunks).toBe(m.chunks);
    }
    for (const q of queries) {
      for (const mode of ['hybrid', 'bm25', 'dense'] as const) {
        const got = await search(q, mode);
        expect(got.partial).toBe(false);
        expect(got.hits, `"${q}" (${mode})`).toEqual(await monolithHits(q, mode));
      }
    }
    expect((await search('quokkaalpha')).docIds[0]).toBe('new/quokkaalpha');

    // bad input: 400, nothing queued or published
    const ops = (await streamOps()).length;
    for (const bad of [{ documents: [{ id: 'x', text: 5 }] }, { documents: [] }, { documents: [{ id: 'a', text: 'a' }, { id: 'a', text: 'b' }] }, { documents: [{ id: 'm', text: 't', metadata: { n: [1] } }] }]) {
      const r = await post('/v1/documents', bad);
      expect(r.status, JSON.stringify(bad)).toBe(400);
    }
    const unknown = await post(`/v1/documents/${encodeURIComponent('new/none-such')}`, undefined, 'DELETE');
    expect(unknown.status).toBe(404);
    expect((await streamOps()).length).toBe(ops);

    // deletes: one by path, two by body
    let r = await post(`/v1/documents/${encodeURIComponent('new/quokkaalpha')}`, undefined, 'DELETE');
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body).toMatchObject({ version: ++version, removed: 1 });
    monolith.remove(['new/quokkaalpha']);
    r = await post('/v1/documents', { ids: ['new/quokkadelta', 'new/quokkaepsilon', 'new/none-such'] }, 'DELETE');
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body).toMatchObject({ version: ++version, removed: 2 });
    monolith.remove(['new/quokkadelta', 'new/quokkaepsilon', 'new/none-such']);
    for (const q of queries) {
      const got = await search(q);
      expect(got.hits, `"${q}" after the deletes`).toEqual(await monolithHits(q));
      expect(got.docIds.filter((d) => ['new/quokkaalpha', 'new/quokkadelta', 'new/quokkaepsilon'].includes(d))).toEqual([]);
    }
    // a replace: the same id again, new text
    const again = { ...newDoc('quokkabeta'), id: 'new/quokkabeta' };
    r = await post('/v1/documents', { documents: [again] });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ version: ++version, replaced: 1 });
    await monolith.ingest([again]);
    const got = await search('quokkabeta report', 'bm25');
    expect(got.hits.map((h) => h.split(':')[0])).toEqual((await monolithHits('quokkabeta report', 'bm25')).map((h) => h.split(':')[0]));
  }, 90_000);

  it('loses no acknowledged write when the ingest worker is SIGKILLed mid-stream, and gives out no label twice', async () => {
    const before = (await streamOps()).length;
    const docs = Array.from({ length: 10 }, (_, i) => newDoc(`wombat${i}x`));
    const acked: string[] = [];
    const failures: string[] = [];
    // every client sends its document until it is acknowledged (the same id and idempotency key each time)
    const send = async (d: (typeof docs)[number], i: number) => {
      await new Promise((r) => setTimeout(r, i * 40));
      for (let attempt = 0; attempt < 5; attempt++) {
        const r = await post('/v1/documents', { documents: [d] }, 'POST', { 'idempotency-key': `wk-${LOG}-${d.id}` });
        if (r.status === 200) {
          acked.push(d.id);
          return;
        }
        failures.push(`${d.id}: ${r.status} ${r.body.message}`);
        await new Promise((res) => setTimeout(res, 500));
      }
    };
    const all = Promise.all(docs.map(send));
    // the 4th op is in the stream and applied, its job not completed yet (held): kill the worker there, start it again
    const names = logNames(LOG);
    const jsm = await jetstreamManager(nc);
    for (let i = 0; i < 600 && (await jsm.streams.info(names.stream)).state.last_seq < before + 4; i++) await new Promise((r) => setTimeout(r, 20));
    expect((await jsm.streams.info(names.stream)).state.last_seq).toBeGreaterThanOrEqual(before + 4);
    await kill9(worker);
    worker = await startProc('shared/services/ingest-worker.ts', workerArgs());
    await all;
    // the kill landed in a held job (its op stored, the job not completed): the rerun published the op again and
    // JetStream stored it once (same message id)
    const statusClient = httpRpcClient(worker.url, { secret: SECRET });
    const status = await statusClient.call<{ duplicates: number }>('status', {}).finally(() => statusClient.close());
    expect(status.duplicates).toBe(1);
    expect(acked.sort(), failures.join('\n')).toEqual(docs.map((d) => d.id).sort());
    // every acknowledged document is there (its marker word finds it first)
    for (const d of docs) {
      const got = await search(d.title.split(' ')[0], 'bm25');
      expect(got.partial).toBe(false);
      expect(got.docIds[0], d.id).toBe(d.id);
    }
    // labels: never given out twice in the whole stream; every document of this test once in the shards
    const ops = await streamOps();
    expect(ops.length, 'an op stored twice, or one missing').toBe(before + docs.length);
    const labels = ops.flatMap(({ op }) => (op.kind === 'ingest' ? op.docs.flatMap((d) => d.chunks.map((c) => c.label)) : []));
    expect(labels.length).toBeGreaterThan(0);
    expect(new Set(labels).size, 'a label given out twice').toBe(labels.length);
    expect(Math.min(...labels)).toBeGreaterThanOrEqual((await indexWriteInfo(index)).nextLabel);
    const present = await Promise.all(clients.map((c) => c.call<{ present: boolean[] }>('has', { ids: docs.map((d) => d.id) })));
    expect(docs.map((_, i) => present.some((p) => p.present[i]))).toEqual(docs.map(() => true));
  }, 120_000);

  it('a SIGKILLed shard replays the stream before it answers, takes a write acknowledged while it was down, and answers as before', async () => {
    const query = 'wombat3x';
    const seen = await search(query, 'bm25');
    expect(seen.partial).toBe(false);
    const victim = shards[1];
    const port = new URL(victim.url).port;
    await kill9(victim);
    // a write while it is down: published, applied by shard 0, acknowledged only once shard 1 is back and applied it
    const late = newDoc('numbatlate');
    let ackedAt = 0;
    const pending = queue.submit({ kind: 'ingest', docs: [late] }).then((r) => {
      ackedAt = performance.now();
      return r;
    });
    await new Promise((r) => setTimeout(r, 1500));
    expect(ackedAt, 'the write was acknowledged while a shard was down').toBe(0);
    const down = await search(query, 'bm25');
    expect(down.partial).toBe(true);
    const restarted = await startProc('shared/services/shard-service.ts', [...victim.args, '--port', port]);
    shards[1] = restarted;
    // listening only once caught up: at the end of the stream as it was when it started (the late write included)
    const last = (await (await jetstreamManager(nc)).streams.info(logNames(LOG).stream)).state.last_seq;
    expect((await clients[1].call<{ version: number }>('has', { ids: [] })).version).toBe(last);
    const startedAt = performance.now();
    const result = await pending;
    expect(ackedAt).toBeGreaterThan(0);
    expect(result.version).toBe((await streamOps()).length);
    // the restarted shard is at the stream's end, like the other
    const versions = await Promise.all(clients.map((c) => c.call<{ version: number }>('has', { ids: [] })));
    expect(versions.map((v) => v.version)).toEqual([result.version, result.version]);
    await follower!.settled();
    await gateway.init();
    const after = await search('numbatlate report', 'bm25');
    expect(after.partial).toBe(false);
    expect(after.docIds[0]).toBe(late.id);
    // the other answers as before the kill, scores aside (the late write changed the statistics)
    const again = await search(query, 'bm25');
    expect(again.partial).toBe(false);
    const ids = (hits: string[]) => hits.map((h) => h.split(':')[0]).sort();
    expect(ids(again.hits)).toEqual(ids(seen.hits));
    expect(again.docIds[0]).toBe('new/wombat3x');
    expect(performance.now() - startedAt).toBeLessThan(60_000);
  }, 120_000);
});
