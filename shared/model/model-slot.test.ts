/**
 * ModelSlot (shared/model/model-slot.ts): leases read the slot once, a swap loads and warms beside the old model and
 * replaces one reference, the old model is released exactly once and only after its last lease, failures leave the
 * old model serving, swaps are serialised. Fake models with gates: order and counts only, no timing.
 */
import { describe, expect, it } from 'vitest';
import { isRagError } from '../errors.ts';
import { ModelSlot, type LoadedModel } from './model-slot.ts';

interface Fake {
  name: string;
  warmed: number;
  released: number;
  /** Leases in flight on it when release() ran. */
  inFlightAtRelease: number | undefined;
}

function gate(): { wait: Promise<void>; open: () => void } {
  let open!: () => void;
  const wait = new Promise<void>((r) => (open = r));
  return { wait, open };
}

const tick = () => new Promise((r) => setImmediate(r));

function fake(name: string, slotRef: { slot?: ModelSlot<Fake> }): LoadedModel<Fake> & { model: Fake } {
  const model: Fake = { name, warmed: 0, released: 0, inFlightAtRelease: undefined };
  return {
    model,
    version: name,
    release: () => {
      model.released++;
      // the slot's current model is another one by now; count the leases on this one through its own bookkeeping
      model.inFlightAtRelease = slotRef.slot ? leasesOn.get(model) ?? 0 : 0;
    },
  };
}
const leasesOn = new Map<Fake, number>();

function warmFn(failOn?: string) {
  return async (m: Fake) => {
    await tick();
    if (m.name === failOn) throw new Error(`warm-up of ${m.name} failed`);
    m.warmed++;
  };
}

/** A request: one lease, held until `g` opens; records which model served it. */
async function request(slot: ModelSlot<Fake>, g?: Promise<void>): Promise<{ version: string; model: Fake }> {
  const { version, value } = await slot.use(async (m) => {
    leasesOn.set(m, (leasesOn.get(m) ?? 0) + 1);
    try {
      await (g ?? tick());
      return m;
    } finally {
      leasesOn.set(m, leasesOn.get(m)! - 1);
    }
  });
  return { version, model: value };
}

describe('ModelSlot', () => {
  it('serves the new model after a swap and releases the old one exactly once, after its last request', async () => {
    const ref: { slot?: ModelSlot<Fake> } = {};
    const v1 = fake('v1', ref);
    const slot = (ref.slot = await ModelSlot.create(async () => v1, { warm: warmFn(), warmRuns: 2 }));
    expect(v1.model.warmed).toBe(2);
    const g = gate();
    const inFlight = [request(slot, g.wait), request(slot, g.wait)];
    await tick();
    const v2 = fake('v2', ref);
    const report = await slot.swap(async () => v2);
    expect(report).toMatchObject({ from: 'v1', to: 'v2' });
    expect(slot.version).toBe('v2');
    expect(v2.model.warmed).toBe(2);
    expect(v1.model.released, 'v1 released while 2 requests still ran on it').toBe(0);
    const after = await request(slot);
    expect(after.version).toBe('v2');
    g.open();
    const done = await Promise.all(inFlight);
    expect(done.map((d) => d.version)).toEqual(['v1', 'v1']);
    await report.released;
    expect(v1.model.released).toBe(1);
    expect(v1.model.inFlightAtRelease).toBe(0);
    expect(slot.stats).toMatchObject({ swaps: 1, released: 1 });
  });

  it('releases the old model at once when nothing runs on it', async () => {
    const ref: { slot?: ModelSlot<Fake> } = {};
    const v1 = fake('v1', ref);
    const slot = (ref.slot = new ModelSlot(v1));
    const r = await slot.swap(async () => fake('v2', ref));
    await r.released;
    expect(v1.model.released).toBe(1);
  });

  it('keeps the old model serving when the load or the warm-up fails, and releases the failed model', async () => {
    const ref: { slot?: ModelSlot<Fake> } = {};
    const slot = (ref.slot = await ModelSlot.create(async () => fake('v1', ref), { warm: warmFn('bad'), warmRuns: 1 }));
    await expect(slot.swap(async () => Promise.reject(new Error('file not found')))).rejects.toThrow('file not found');
    expect(slot.version).toBe('v1');
    const bad = fake('bad', ref);
    await expect(slot.swap(async () => bad)).rejects.toThrow('warm-up of bad failed');
    expect(slot.version).toBe('v1');
    expect(bad.model.released).toBe(1);
    expect((await request(slot)).version).toBe('v1');
    expect(slot.stats).toMatchObject({ swaps: 0, failedSwaps: 2 });
    // the slot still swaps after a failure
    await slot.swap(async () => fake('v2', ref));
    expect(slot.version).toBe('v2');
  });

  it('never lets a request reach a model before its warm-up has finished', async () => {
    const ref: { slot?: ModelSlot<Fake> } = {};
    const warmGate = gate();
    let warming = false;
    const slot = (ref.slot = new ModelSlot(fake('v1', ref), {
      warm: async (m) => {
        warming = true;
        await warmGate.wait;
        m.warmed++;
      },
      warmRuns: 1,
    }));
    const swapped = slot.swap(async () => fake('v2', ref));
    while (!warming) await tick();
    const during = await Promise.all([request(slot), request(slot), request(slot)]);
    expect(during.map((d) => d.version)).toEqual(['v1', 'v1', 'v1']);
    warmGate.open();
    await swapped;
    const next = await request(slot);
    expect(next.version).toBe('v2');
    expect(next.model.warmed).toBe(1);
  });

  it('serialises concurrent swaps: one load at a time, applied in call order, every replaced model released once', async () => {
    const ref: { slot?: ModelSlot<Fake> } = {};
    const slot = (ref.slot = new ModelSlot(fake('v0', ref), { warm: warmFn(), warmRuns: 1 }));
    let loading = 0;
    let most = 0;
    const models = ['v1', 'v2', 'v3', 'v4'].map((n) => fake(n, ref));
    const loader = (m: LoadedModel<Fake>) => async () => {
      most = Math.max(most, ++loading);
      await tick();
      await tick();
      loading--;
      return m;
    };
    const reports = await Promise.all(models.map((m) => slot.swap(loader(m))));
    expect(most, 'two loads overlapped').toBe(1);
    expect(reports.map((r) => `${r.from}→${r.to}`)).toEqual(['v0→v1', 'v1→v2', 'v2→v3', 'v3→v4']);
    expect(slot.version).toBe('v4');
    await Promise.all(reports.map((r) => r.released));
    expect(models.map((m) => m.model.released)).toEqual([1, 1, 1, 0]);
  });

  it('refuses a new model with the version of the one serving (caches key on it)', async () => {
    const ref: { slot?: ModelSlot<Fake> } = {};
    const slot = (ref.slot = new ModelSlot(fake('v1', ref)));
    const again = fake('v1', ref);
    const err = await slot.swap(async () => again).then(() => undefined, (e: unknown) => e);
    expect(isRagError(err, 'INVALID_INPUT'), String(err)).toBe(true);
    expect((err as Error).message).toMatch(/version/);
    expect(again.model.released).toBe(1);
    expect(slot.version).toBe('v1');
  });

  it('close() releases the current model after its in-flight requests and refuses new ones', async () => {
    const ref: { slot?: ModelSlot<Fake> } = {};
    const v1 = fake('v1', ref);
    const slot = (ref.slot = new ModelSlot(v1));
    const g = gate();
    const r = request(slot, g.wait);
    await tick();
    const closed = slot.close();
    await tick();
    expect(v1.model.released).toBe(0);
    g.open();
    await r;
    await closed;
    expect(v1.model.released).toBe(1);
    expect(() => slot.acquire()).toThrow('closed');
  });

  it('a lease ended twice counts once', async () => {
    const ref: { slot?: ModelSlot<Fake> } = {};
    const v1 = fake('v1', ref);
    const slot = (ref.slot = new ModelSlot(v1));
    const a = slot.acquire();
    const b = slot.acquire();
    const swapped = await slot.swap(async () => fake('v2', ref));
    a.done();
    a.done();
    expect(v1.model.released, 'a second done() of one lease released the model under another lease').toBe(0);
    b.done();
    await swapped.released;
    expect(v1.model.released).toBe(1);
  });
});
