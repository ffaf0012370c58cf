import { describe, expect, it } from 'vitest';
import { OrderedApplier, Sequencer, type ApplyOutcome, type LogOp, type WriteOp } from './writes.ts';

/** A fan-out that applies nothing until released: lets a test hold writes "numbered but not yet applied". */
function heldFanout() {
  const held: Array<{ version: number; op: LogOp; release: () => void }> = [];
  const fanout = (version: number, op: LogOp) =>
    new Promise<ApplyOutcome>((resolve) => held.push({ version, op, release: () => resolve({ ok: true, result: {} }) }));
  return { held, fanout };
}

const ingest = (id: string): WriteOp => ({ kind: 'ingest', docs: [{ id, text: 'x' }] });
const del = (...ids: string[]): WriteOp => ({ kind: 'delete', ids });

describe('Sequencer: a delete of an unknown id changes nothing', () => {
  it('answers removed 0 with the current version and numbers nothing when the replica does not hold the id', async () => {
    const { held, fanout } = heldFanout();
    const seq = new Sequencer(fanout, 7);
    const ack = await seq.submit(del('nope'), { version: 7, present: [false] });
    expect(ack).toEqual({ version: 7, outcome: { ok: true, result: { removed: 0 } } });
    expect(seq.version).toBe(7);
    expect(held).toHaveLength(0);
  });

  it("answers with the submitter's version, not a later one it has not applied yet", async () => {
    const { held, fanout } = heldFanout();
    const seq = new Sequencer(fanout, 0);
    void seq.submit(ingest('a'));
    void seq.submit(ingest('b'));
    const ack = await seq.submit(del('nope'), { version: 0, present: [false] });
    expect(ack.version).toBe(0);
    expect(seq.version).toBe(2);
    held.forEach((h) => h.release());
  });

  it('numbers a delete of an id that a write numbered but not yet applied has created', async () => {
    const { held, fanout } = heldFanout();
    const seq = new Sequencer(fanout, 0);
    const a = seq.submit(ingest('doc'));
    // the replica has not applied version 1 yet: it reports version 0, id absent
    const b = seq.submit(del('doc'), { version: 0, present: [false] });
    expect(held.map((h) => h.version)).toEqual([1, 2]);
    held.forEach((h) => h.release());
    expect((await a).version).toBe(1);
    expect((await b).version).toBe(2);
  });

  it('a second delete of the same id, while the first is still being applied, gets no version', async () => {
    const { held, fanout } = heldFanout();
    const seq = new Sequencer(fanout, 3);
    const first = seq.submit(del('doc'), { version: 3, present: [true] });
    const second = await seq.submit(del('doc'), { version: 3, present: [true] });
    expect(second).toMatchObject({ version: 3, outcome: { ok: true, result: { removed: 0 } } }); // the submitter's version
    expect(held).toHaveLength(1);
    held[0].release();
    expect((await first).version).toBe(4);
  });

  it('believes the replica once the writes it had not seen are applied everywhere', async () => {
    const { held, fanout } = heldFanout();
    const seq = new Sequencer(fanout, 0);
    const a = seq.submit(ingest('doc'));
    held[0].release();
    await a;
    // the replica is at version 1 now and holds the document
    const d = seq.submit(del('doc'), { version: 1, present: [true] });
    expect(held).toHaveLength(2);
    held[1].release();
    expect((await d).version).toBe(2);
  });

  it('after a reload, what a replica held before it is no answer: its delete is numbered', async () => {
    const { held, fanout } = heldFanout();
    const seq = new Sequencer(fanout, 5);
    const r = seq.submit({ kind: 'reload', dir: '/d', from: 5, source: '/s', savedAt: 'x' });
    // the replica answered from the old index (version 5): the new one may hold the id
    const d = seq.submit(del('doc'), { version: 5, present: [false] });
    expect(held.map((h) => h.version)).toEqual([6, 7]);
    held.forEach((h) => h.release());
    expect((await r).version).toBe(6);
    expect((await d).version).toBe(7);
    // a replica at the reload's version or later answers for the new index
    expect((await seq.submit(del('doc'), { version: 7, present: [false] })).version).toBe(7);
  });

  it('a delete of several ids is numbered when any of them is there', async () => {
    const { held, fanout } = heldFanout();
    const seq = new Sequencer(fanout, 0);
    const d = seq.submit(del('a', 'b'), { version: 0, present: [false, true] });
    held[0].release();
    expect((await d).version).toBe(1);
  });
});

describe('Sequencer: an ingest of unchanged documents changes nothing', () => {
  const doc = (id: string, text: string, title?: string) => ({ id, text, ...(title ? { title } : {}) });
  const put = (...docs: Array<{ id: string; text: string }>): WriteOp => ({ kind: 'ingest', docs });

  it('answers a re-ingest of the same content at once, without a version, and passes only the changed documents on', async () => {
    const { held, fanout } = heldFanout();
    const seq = new Sequencer(fanout, 0);
    const first = seq.submit(put(doc('a', 'alpha'), doc('b', 'beta')), { version: 0, present: [] });
    held[0].release();
    expect((await first).version).toBe(1);
    const same = await seq.submit(put(doc('b', 'beta'), doc('a', 'alpha')), { version: 1, present: [] });
    expect(same).toEqual({ version: 1, outcome: { ok: true, result: { documents: 0, chunks: 0, replaced: 0, unchanged: 2 } } });
    expect(held).toHaveLength(1);
    // one edited (the title counts too), one as it was: only the edited one is numbered and applied
    const mixed = seq.submit(put(doc('a', 'alpha', 'a title'), doc('b', 'beta')), { version: 1, present: [] });
    expect(held).toHaveLength(2);
    expect(held[1].op).toEqual(put(doc('a', 'alpha', 'a title')));
    held[1].release();
    expect(await mixed).toMatchObject({ version: 2, outcome: { ok: true, result: { unchanged: 1 } } });
    expect(seq.version).toBe(2);
  });

  it('numbers it while the write that made the content is in flight, or not yet applied by the submitter, and after a delete, a reload or a refusal', async () => {
    const { held, fanout } = heldFanout();
    const seq = new Sequencer(fanout, 0);
    const first = seq.submit(put(doc('a', 'alpha')), { version: 0, present: [] });
    // in flight: numbered again
    const again = seq.submit(put(doc('a', 'alpha')), { version: 0, present: [] });
    expect(held.map((h) => h.version)).toEqual([1, 2]);
    held.forEach((h) => h.release());
    await Promise.all([first, again]);
    // applied everywhere, but the submitter's replica says version 1 < 2: numbered
    seq.submit(put(doc('a', 'alpha')), { version: 1, present: [] });
    expect(held).toHaveLength(3);
    held[2].release();
    await new Promise((r) => setTimeout(r, 0));
    expect((await seq.submit(put(doc('a', 'alpha')), { version: 3, present: [] })).version).toBe(3); // unchanged now
    // after a delete of it
    seq.submit(del('a'), { version: 3, present: [true] });
    held[3].release();
    await new Promise((r) => setTimeout(r, 0));
    seq.submit(put(doc('a', 'alpha')), { version: 4, present: [] });
    expect(held).toHaveLength(5);
    held[4].release();
    await new Promise((r) => setTimeout(r, 0));
    // after a reload
    seq.submit({ kind: 'reload', dir: '/d', from: 5, source: '/s', savedAt: 'x' });
    held[5].release();
    await new Promise((r) => setTimeout(r, 0));
    seq.submit(put(doc('a', 'alpha')), { version: 6, present: [] });
    expect(held).toHaveLength(7);
    // a refused ingest leaves the document unknown
    const refusing = new Sequencer(async () => ({ ok: false, code: 'INVALID_INPUT', message: 'no' }), 0);
    await refusing.submit(put(doc('a', 'alpha')), { version: 0, present: [] });
    expect((await refusing.submit(put(doc('a', 'alpha')), { version: 1, present: [] })).version).toBe(2);
    // without the submitter's version (the Redis queue): always numbered
    expect((await refusing.submit(put(doc('a', 'alpha')))).version).toBe(3);
  });

  it('takes a batch naming an id twice as it is, and remembers what recovered writes left', async () => {
    const { held, fanout } = heldFanout();
    const seq = new Sequencer(fanout, 7);
    seq.remember(6, put(doc('a', 'alpha')));
    seq.remember(7, put(doc('b', 'beta')));
    expect((await seq.submit(put(doc('a', 'alpha'), doc('b', 'beta')), { version: 7, present: [] })).outcome).toMatchObject({ ok: true, result: { unchanged: 2 } });
    void seq.submit(put(doc('a', 'alpha'), doc('a', 'alpha')), { version: 7, present: [] });
    expect(held).toHaveLength(1);
  });
});

describe('OrderedApplier', () => {
  it('runs a barrier after every op given before it and before any op given after it', async () => {
    const events: string[] = [];
    const applier = new OrderedApplier(async (v) => {
      await new Promise((r) => setTimeout(r, 5));
      events.push(`apply ${v}`);
      return { ok: true, result: {} };
    });
    const all = [applier.apply(1, del('x')), applier.apply(2, del('x'))];
    const barrier = applier.barrier(async () => {
      events.push('snapshot');
      await new Promise((r) => setTimeout(r, 10));
      events.push('snapshot done');
    });
    all.push(applier.apply(3, del('x')));
    await Promise.all([...all, barrier]);
    expect(events).toEqual(['apply 1', 'apply 2', 'snapshot', 'snapshot done', 'apply 3']);
  });
});
