/**
 * resources.ts: the planner's decisions, deterministically. Never more threads than cores in total (a grid of
 * inputs); more sessions when many small requests are in flight; one wide session for one big batch at a time;
 * bad input → RagError; the adaptive planner follows the observed queue with patience and ignores a blip.
 */
import { describe, expect, it } from 'vitest';
import { expectRagError } from '../util/expect-rag-error.ts';
import { AdaptivePlanner, availableCores, planResources } from './resources.ts';

describe('planResources', () => {
  it('never plans more intra-op threads than cores in total, nor a session or thread fewer than 1', () => {
    for (const cores of [1, 2, 3, 4, 6, 8, 16, 64]) {
      for (const concurrency of [1, 2, 3, 4, 7, 16, 100]) {
        for (const batch of [1, 4, 16, 31, 32, 64, 256]) {
          const p = planResources({ cores, concurrency, batch });
          expect(p.sessions * p.intraOpThreads, `${cores} cores, ${concurrency} in flight, batch ${batch}: ${p.why}`).toBeLessThanOrEqual(cores);
          expect(p.sessions).toBeGreaterThanOrEqual(1);
          expect(p.intraOpThreads).toBeGreaterThanOrEqual(1);
          expect(p.sessions, 'never more sessions than requests in flight').toBeLessThanOrEqual(concurrency);
          expect(p.interOpThreads).toBe(1);
        }
      }
    }
  });

  it('spreads many small requests across sessions, one thread each', () => {
    expect(planResources({ cores: 8, concurrency: 16, batch: 4 })).toMatchObject({ sessions: 8, intraOpThreads: 1 });
    expect(planResources({ cores: 2, concurrency: 16, batch: 8 })).toMatchObject({ sessions: 2, intraOpThreads: 1 });
    expect(planResources({ cores: 16, concurrency: 4, batch: 4 })).toMatchObject({ sessions: 4, intraOpThreads: 4 });
  });

  it('gives one request at a time one wide session, and caps sessions for big batches', () => {
    expect(planResources({ cores: 8, concurrency: 1, batch: 64 })).toMatchObject({ sessions: 1, intraOpThreads: 8 });
    expect(planResources({ cores: 2, concurrency: 1, batch: 8 })).toMatchObject({ sessions: 1, intraOpThreads: 2 });
    expect(planResources({ cores: 8, concurrency: 16, batch: 64 })).toMatchObject({ sessions: 2, intraOpThreads: 4 });
    expect(planResources({ cores: 2, concurrency: 16, batch: 64 })).toMatchObject({ sessions: 1, intraOpThreads: 2 });
    expect(planResources({ cores: 8, concurrency: 16, batch: 4, maxSessions: 3 })).toMatchObject({ sessions: 3, intraOpThreads: 2 });
  });

  it('says why, and defaults the cores to os.availableParallelism()', () => {
    expect(planResources({ cores: 8, concurrency: 1, batch: 64 }).why).toMatch(/one request at a time/);
    expect(planResources({ cores: 8, concurrency: 16, batch: 64 }).why).toMatch(/batches of 64/);
    expect(planResources({ concurrency: 1, batch: 1 }).cores).toBe(availableCores());
  });

  it('refuses what it cannot plan for with a RagError', () => {
    expectRagError(() => planResources({ cores: 0, concurrency: 1, batch: 1 }), /cores must be an integer ≥ 1, got 0/);
    expectRagError(() => planResources({ cores: 4, concurrency: 2.5, batch: 1 }), /concurrency must be an integer ≥ 1/);
    expectRagError(() => planResources({ cores: 4, concurrency: 1, batch: -3 }), /batch must be an integer ≥ 1/);
    expectRagError(() => planResources({ cores: 4, concurrency: 1, batch: 1, maxSessions: 0 }), /maxSessions/);
    expectRagError(() => planResources(null as never), /expected/);
  });
});

describe('AdaptivePlanner', () => {
  it('starts from the initial concurrency and moves to more sessions once a longer queue has held', () => {
    const p = new AdaptivePlanner({ cores: 4, batch: 2, patience: 3 });
    expect(p.plan).toMatchObject({ sessions: 1, intraOpThreads: 4 });
    const changes = [16, 16, 16, 16, 16].map((q) => p.observe(q));
    expect(changes.filter(Boolean).length).toBe(1);
    expect(p.plan).toMatchObject({ sessions: 4, intraOpThreads: 1 });
  });

  it('ignores a one-observation burst (patience)', () => {
    const p = new AdaptivePlanner({ cores: 4, batch: 2, patience: 3, alpha: 1 });
    expect(p.observe(16)).toBeUndefined();
    expect(p.observe(1)).toBeUndefined();
    expect(p.observe(1)).toBeUndefined();
    expect(p.plan.sessions).toBe(1);
  });

  it('goes back to one wide session when the queue drains', () => {
    const p = new AdaptivePlanner({ cores: 4, batch: 2, initialConcurrency: 8, patience: 2, alpha: 1 });
    expect(p.plan.sessions).toBe(4);
    expect(p.observe(0)).toBeUndefined();
    expect(p.observe(0)).toMatchObject({ sessions: 1, intraOpThreads: 4 });
  });

  it('refuses bad settings and observations with a RagError', () => {
    expectRagError(() => new AdaptivePlanner({ cores: 4, batch: 2, alpha: 0 }), /alpha/);
    expectRagError(() => new AdaptivePlanner({ cores: 4, batch: 2, patience: 0 }), /patience/);
    const p = new AdaptivePlanner({ cores: 4, batch: 2 });
    expectRagError(() => p.observe(-1), /queue length/);
    expectRagError(() => p.observe(Number.NaN), /queue length/);
  });
});
