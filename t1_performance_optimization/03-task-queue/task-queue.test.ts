/**
 * Checkpoint for 03-task-queue. `npm run checkpoint -- 03-task-queue` runs it against exercise.ts; plain
 * `npx vitest run` checks before.ts and after.ts. The reference is an engine that ingested the same documents
 * directly. Needs Redis (REDIS_URL, default redis://127.0.0.1:6379); skips with the reason when it is unreachable.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { implementations } from '../../shared/lab/checkpoint.ts';
import { chunkDocument } from '../../shared/corpus/chunk.ts';
import { loadBrown } from '../../shared/corpus/brown.ts';
import { createDefaultEmbedder, type SifEmbedder } from '../../shared/embed/sif.ts';
import { type Engine } from '../../shared/engine.ts';
import { indexText } from '../../shared/corpus/chunk.ts';
import type { Doc } from '../../shared/types.ts';
import { uploadAll } from './client.ts';
import { createLessonEngine, snapshot } from './lesson-engine.ts';
import { redisSkipReason, type IngestService, type ServiceOptions } from './service.ts';

type Mod = typeof import('./after.ts');

const impls = await implementations<Mod>(import.meta.url);
const skipReason = await redisSkipReason();
if (skipReason) console.warn(`03-task-queue checkpoint skipped: ${skipReason}`);

/** Fast failure detection for the tests: a dead worker's job is re-queued within about 1.3 s. */
const FAST: Partial<ServiceOptions> = { lockDurationMs: 1000, stalledIntervalMs: 300, backoffMs: 20 };

let sif: SifEmbedder;
let docs: Doc[];
let reference: Engine;

beforeAll(async () => {
  if (skipReason) return;
  docs = (await loadBrown({ limit: 10 })).map((d) => ({ ...d, text: d.text.slice(0, 4000) }));
  sif = await createDefaultEmbedder();
  await sif.fit(docs.flatMap((d) => chunkDocument(d)).map(indexText));
  reference = createLessonEngine(sif);
  await reference.ingest(docs);
});

const view = (e: Engine) => snapshot(e).map((c) => `${c.docId}#${c.position}:${c.id}`);

async function withService<T>(impl: Mod, opts: Partial<ServiceOptions>, fn: (svc: IngestService, engine: Engine) => Promise<T>): Promise<T> {
  const engine = createLessonEngine(sif);
  const svc = await impl.startIngestService({ engine, ...FAST, ...opts });
  try {
    return await fn(svc, engine);
  } finally {
    await svc.close();
  }
}

describe.skipIf(Boolean(skipReason))(skipReason ? `skipped: ${skipReason}` : 'task queue', () => {
  describe.each(impls)('%s', (_name, impl) => {
    it('indexes every uploaded document exactly once, the same chunks as direct ingestion', async () => {
      await withService(impl, {}, async (svc, engine) => {
        const report = await uploadAll(svc.url, docs, { concurrency: 4 });
        expect([...report.failed]).toEqual([]);
        await svc.drain(20_000);
        expect(view(engine)).toEqual(view(reference));
        expect(engine.stats().documents).toBe(docs.length);
        for (const d of docs) expect(svc.writes.get(d.id)).toBe(1);
      });
    });

    it('answers queries like the reference engine', async () => {
      await withService(impl, {}, async (svc, engine) => {
        await uploadAll(svc.url, docs, { concurrency: 4 });
        await svc.drain(20_000);
        for (const q of ['the jury said the election was conducted', 'hospital patients and nurses', 'tax bill in the legislature']) {
          const key = (hits: { chunkId: string; score: number }[]) => hits.map((h) => `${h.chunkId} ${h.score.toFixed(6)}`);
          const got = (await engine.query(q, { k: 5, answer: false })).hits;
          const want = (await reference.query(q, { k: 5, answer: false })).hits;
          expect(key(got)).toEqual(key(want));
        }
      });
    });

    it('retries a transient failure with backoff until it succeeds', async () => {
      const flaky = new Set([docs[0].id, docs[3].id]);
      const tries = new Map<string, number[]>();
      const failAttempt = (id: string, attempt: number) => {
        if (!flaky.has(id)) return false;
        tries.set(id, [...(tries.get(id) ?? []), attempt]);
        return attempt <= 2; // the first two attempts fail, the third succeeds
      };
      await withService(impl, { hooks: { failAttempt } }, async (svc, engine) => {
        const report = await uploadAll(svc.url, docs, { concurrency: 4 });
        expect([...report.failed]).toEqual([]);
        await svc.drain(20_000);
        for (const id of flaky) expect(tries.get(id)).toEqual([1, 2, 3]);
        expect(view(engine)).toEqual(view(reference));
      });
    });

    it('loses no document when the worker crashes after writing, before acknowledging', async () => {
      const victim = docs[2].id;
      let crashed = false;
      const crashAfterIndex = (id: string) => {
        if (id !== victim || crashed) return false;
        crashed = true;
        return true;
      };
      await withService(impl, { hooks: { crashAfterIndex } }, async (svc, engine) => {
        const report = await uploadAll(svc.url, docs, { concurrency: 4 });
        expect([...report.failed]).toEqual([]);
        await svc.drain(20_000);
        expect(crashed).toBe(true);
        // at-least-once: the crashed document was processed again ...
        expect(svc.writes.get(victim)).toBe(2);
        // ... and the idempotent upsert kept exactly one copy of everything
        const ids = snapshot(engine).map((c) => c.id);
        expect(new Set(ids).size).toBe(ids.length);
        expect(view(engine)).toEqual(view(reference));
      });
    });

    it('reports a document that never succeeds instead of dropping it silently', async () => {
      const broken = docs[5].id;
      await withService(impl, { attempts: 3, hooks: { failAttempt: (id) => id === broken } }, async (svc, engine) => {
        const report = await uploadAll(svc.url, docs, { concurrency: 4, retries: 2 });
        const drained = await svc.drain(20_000).then(
          () => '',
          (err: Error) => err.message,
        );
        const complaints = [...report.failed.keys(), drained].join(' ');
        expect(complaints).toContain(broken);
        expect(engine.hasDocument(broken)).toBe(false);
        expect(engine.stats().documents).toBe(docs.length - 1);
      });
    });

    it('refuses a malformed document with 400 and indexes nothing', async () => {
      await withService(impl, {}, async (svc, engine) => {
        const report = await uploadAll(svc.url, [{ id: '', text: 'x' } as Doc, { id: 'ok', text: 42 } as unknown as Doc]);
        expect([...report.failed.values()].every((why) => why.startsWith('HTTP 400'))).toBe(true);
        expect(report.failed.size).toBe(2);
        await svc.drain(5_000);
        expect(engine.stats().documents).toBe(0);
      });
    });
  });
});

