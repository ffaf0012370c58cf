/**
 * Shard writes in one process (no NATS, no Redis): ops built as the ingest worker builds them (`buildIngestOps`:
 * chunked, embedded with the index's embedder, labelled) and applied by two shard parts (`applySplitOp`); the
 * gateway over them (in-process HTTP RPC) answers exactly what the monolith answers after the same ingest and
 * delete. A malformed op changes nothing. BM25 changes wait for the next read: a run of ops (a replay) rewrites the
 * postings once, with the same answers.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Bm25Shard } from '../index/sharded.ts';
import { loadBrown } from '../corpus/brown.ts';
import { loadEngine, type Engine, type RetrievalMode } from '../engine.ts';
import { ensureSplitIndex } from './cli-up.ts';
import { embedderHandler, embedderOfIndex } from './embedder-service.ts';
import { Gateway } from './gateway.ts';
import { httpRpcClient, serveHttpRpc, type HttpRpcServer } from './http-rpc.ts';
import { buildIngestOps, indexWriteInfo } from './ingest-worker.ts';
import { partFromEngine, shardHandler } from './shard-service.ts';
import { applySplitOp, writablePart, type SplitWriteOp, type WritablePart } from './shard-writes.ts';

let engine: Engine;
let parts: WritablePart[];
let gateway: Gateway;
const servers: HttpRpcServer[] = [];
let version = 0;

const fmt = (hits: { chunkId: string; score: number }[]) => hits.map((h) => `${h.chunkId}:${h.score}`);

beforeAll(async () => {
  const index = await ensureSplitIndex();
  engine = await loadEngine(index, { llm: null });
  parts = [0, 1].map((i) => writablePart(partFromEngine(engine, i, 2)));
  const embedder = await embedderOfIndex(index);
  for (const p of parts) servers.push(await serveHttpRpc(shardHandler(p)));
  servers.push(await serveHttpRpc(embedderHandler(embedder)));
  gateway = new Gateway({ shards: servers.slice(0, 2).map((s) => httpRpcClient(s.url)), embedder: httpRpcClient(servers[2].url), shardDeadlineMs: 10_000, embedDeadlineMs: 10_000 });
  await gateway.init();
}, 60_000);

afterAll(async () => {
  await gateway?.close();
  await Promise.all(servers.map((s) => s.close()));
});

function apply(op: SplitWriteOp) {
  version++;
  return parts.map((p) => applySplitOp(p, version, op));
}

async function expectSameAnswers(queries: string[]) {
  await gateway.init();
  for (const q of queries) {
    for (const mode of ['hybrid', 'bm25', 'dense'] as RetrievalMode[]) {
      const got = await gateway.search(q, { k: 10, mode });
      expect(got.partial).toBe(false);
      expect(fmt(got.hits), `"${q}" (${mode})`).toEqual(fmt((await engine.query(q, { k: 10, mode, answer: false })).hits));
    }
  }
}

describe('applySplitOp', () => {
  it('two shards that applied the ops answer like the monolith that ingested and deleted the same documents', async () => {
    const index = await ensureSplitIndex();
    const info = await indexWriteInfo(index);
    const embedder = await embedderOfIndex(index);
    const docs = (await loadBrown({ limit: 6 })).map((d, i) => ({ id: `copy/${i}`, title: `kookaburra${i} notes`, text: d.text.split(/\n\s*\n/).reverse().join('\n\n'), metadata: { copy: true } }));
    const built = await buildIngestOps(docs, { chunk: info.chunk, nextLabel: info.nextLabel, maxOpBytes: 60_000, embed: (texts) => embedder.embed(texts) });
    expect(built.ops.length, 'a 60 kB limit splits six documents into several ops').toBeGreaterThan(1);
    const labels = built.ops.flatMap((op) => (op.kind === 'ingest' ? op.docs.flatMap((d) => d.chunks.map((c) => c.label)) : []));
    expect(labels).toEqual(labels.map((_, i) => info.nextLabel + i));
    expect(built.ops.at(-1)!.nextLabel).toBe(info.nextLabel + labels.length);
    for (const op of built.ops) {
      for (const outcome of apply(op)) expect(outcome.ok, JSON.stringify(outcome)).toBe(true);
    }
    const r = await engine.ingest(docs);
    expect(r.chunks).toBe(built.chunks);
    expect(parts[0].chunks.size + parts[1].chunks.size).toBe(engine.stats().chunks);
    const queries = ['kookaburra2 notes', 'jury investigation of the election', ...docs.map((d) => d.text.split(/\s+/).slice(4, 10).join(' '))];
    await expectSameAnswers(queries);

    // a malformed op (a vector of the wrong size in shard 1's part) is refused whole by that shard: nothing changes
    const before = parts.map((p) => ({ docs: p.bm25.docs, chunks: p.chunks.size, vectors: p.vectors.size, stats: JSON.stringify(p.bm25.termStats()) }));
    const bad = JSON.parse(JSON.stringify(built.ops[0])) as SplitWriteOp & { kind: 'ingest' };
    for (const d of bad.docs) {
      d.id = `bad/${d.id}`;
      for (const c of d.chunks) {
        c.chunk.docId = d.id;
        c.label += 100_000;
        c.vector = Buffer.from(new Float32Array(3).buffer).toString('base64');
      }
    }
    const outcomes = apply(bad);
    expect(outcomes.some((o) => !o.ok && /vector of 3 numbers/.test(o.message))).toBe(true);
    const refused = outcomes.findIndex((o) => !o.ok);
    expect({ docs: parts[refused].bm25.docs, chunks: parts[refused].chunks.size, vectors: parts[refused].vectors.size, stats: JSON.stringify(parts[refused].bm25.termStats()) }).toEqual(before[refused]);
    expect(parts[refused].version).toBe(version);
    // (the other shard, whose chunks of it were well-formed, took them: undo that to go on comparing)
    for (const o of apply({ kind: 'delete', ids: bad.docs.map((d) => d.id), nextLabel: 0 })) expect(o.ok).toBe(true);

    // deletes: every chunk of the documents goes from every shard
    const gone = ['copy/1', 'copy/4'];
    const removed = apply({ kind: 'delete', ids: [...gone, 'copy/none'], nextLabel: built.ops.at(-1)!.nextLabel });
    // each shard counts the documents it held a chunk of: together at least the two (a document spans shards)
    expect(removed.map((o) => (o.ok ? (o.result.removed ?? 0) : -1)).reduce((x, y) => x + y, 0)).toBeGreaterThanOrEqual(2);
    engine.remove(gone);
    for (const p of parts) for (const c of p.chunks.values()) expect(gone).not.toContain(c.docId);
    expect(parts[0].chunks.size + parts[1].chunks.size).toBe(engine.stats().chunks);
    await expectSameAnswers(queries);
  }, 60_000);
  it('queues the BM25 changes of a run of ops and applies them in one rewrite at the next read, with the same answers', async () => {
    const index = await ensureSplitIndex();
    const info = await indexWriteInfo(index);
    const embedder = await embedderOfIndex(index);
    const nextLabel = Math.max(info.nextLabel, ...parts.flatMap((p) => [...p.chunks.keys()].map((l) => l + 1)));
    const texts = (await loadBrown({ limit: 9 })).slice(6).map((d) => d.text);
    const docs = texts.map((text, i) => ({ id: `queued/${i}`, title: `wallaby${i} notes`, text }));
    // one op per document, then doc 0 again with another text (a replace), then a delete of doc 1: five ops
    let label = nextLabel;
    const ops: SplitWriteOp[] = [];
    for (const d of [...docs, { ...docs[0], text: texts[2].split(/\n\s*\n/).reverse().join('\n\n') }]) {
      const built = await buildIngestOps([d], { chunk: info.chunk, nextLabel: label, maxOpBytes: 1_000_000, embed: (t) => embedder.embed(t) });
      ops.push(...built.ops);
      label = built.ops.at(-1)!.nextLabel;
    }
    ops.push({ kind: 'delete', ids: ['queued/1'], nextLabel: label });
    const update = vi.spyOn(Bm25Shard.prototype, 'update');
    try {
      for (const op of ops) for (const o of apply(op)) expect(o.ok, JSON.stringify(o)).toBe(true);
      expect(update, 'no postings rewritten while the ops are applied').toHaveBeenCalledTimes(0);
      for (const p of parts) expect(p.bm25.docs).toBeGreaterThan(0);
      expect(update, 'one rewrite per shard at the first read').toHaveBeenCalledTimes(2);
      for (const p of parts) p.bm25.termStats();
      expect(update, 'nothing queued any more').toHaveBeenCalledTimes(2);
    } finally {
      update.mockRestore();
    }
    await engine.ingest([docs[0], docs[1], docs[2]]);
    await engine.ingest([{ ...docs[0], text: texts[2].split(/\n\s*\n/).reverse().join('\n\n') }]);
    engine.remove(['queued/1']);
    expect(parts[0].chunks.size + parts[1].chunks.size).toBe(engine.stats().chunks);
    await expectSameAnswers(['wallaby0 notes', 'wallaby2 notes', texts[2].split(/\s+/).slice(4, 10).join(' ')]);
  }, 60_000);
});
