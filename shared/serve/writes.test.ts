import { describe, expect, it } from 'vitest';
import { OrderedApplier, Sequencer, type ApplyOutcome, type WriteOp } from './writes.ts';

/** A fan-out that applies nothing until released: lets a test hold writes "numbered but not yet applied". */
function heldFanout() {
  const held: Array<{ version: number; op: WriteOp; release: () => void }> = [];
  const fanout = (version: number, op: WriteOp) =>
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

  it('a delete of several ids is numbered when any of them is there', async () => {
    const { held, fanout } = heldFanout();
    const seq = new Sequencer(fanout, 0);
    const d = seq.submit(del('a', 'b'), { version: 0, present: [false, true] });
    held[0].release();
    expect((await d).version).toBe(1);
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
