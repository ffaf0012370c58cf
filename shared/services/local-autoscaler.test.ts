/**
 * The local autoscaler (local-autoscaler.ts) with real shard-service.ts processes: under an open-loop ramp it
 * starts replicas (traffic only once ready), and when the load falls it drains them and stops them, with no
 * failed request. The HPA rule decides (autoscale.ts), on a compressed clock: a sync every 400 ms, a scale-down
 * window of 2 s. The load is light (40 QPS, ~10% of a core) and calls carry no deadline, so a failure can only come
 * from the autoscaler (a call sent to a replica being stopped), not from a busy machine. ~6 s on a quiet machine; the
 * phases wait for the replicas, so a loaded machine makes it slower, not red.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULT_SCALE_UP, hpaDecide } from './autoscale.ts';
import { ensureSplitIndex } from './cli-up.ts';
import { LocalAutoscaler, runRamp, shardReplicaStarter, shardSearchRequests } from './local-autoscaler.ts';

let auto: LocalAutoscaler | undefined;
afterAll(async () => {
  await auto?.stop();
});

describe('LocalAutoscaler', () => {
  it('scales a shard out to ≥ 2 replicas under a ramp and back to 1 after it, without a failed request', async () => {
    const index = await ensureSplitIndex();
    const reqs = shardSearchRequests(index, 64);
    const replicas = shardReplicaStarter({ index });
    const decide = hpaDecide(
      {
        name: 'test',
        minReplicas: 1,
        maxReplicas: 3,
        metrics: [{ type: 'Pods', name: 'qps', averageValue: 12 }],
        behavior: { scaleUp: DEFAULT_SCALE_UP, scaleDown: { stabilizationWindowSeconds: 2, selectPolicy: 'Max', policies: [{ type: 'Percent', value: 100, periodSeconds: 1 }] } },
        tolerance: 0.1,
        syncPeriodSeconds: 0.4,
      },
      1,
    );
    auto = new LocalAutoscaler({ start: replicas.start, scaler: { decide }, syncMs: 400, initial: 1 });
    await auto.init();
    auto.run();
    // high load until a second replica serves (starts take 1.5 s on a quiet machine, far more on a busy one), then
    // low load until the autoscaler is back to one replica
    let peak = 0;
    let phase: 'high' | 'low' | 'done' = 'high';
    let switchedAt = 0;
    const a = auto;
    const ramp = await runRamp({
      send: (i) => a.pool.call('search', reqs[i % reqs.length]),
      qpsAt: (t) => {
        peak = Math.max(peak, a.pool.serving);
        if (phase === 'high' && t > 1_000 && peak >= 2 && t - switchedAt > 0) ((phase = 'low'), (switchedAt = t));
        const c = a.counts();
        if (phase === 'low' && t - switchedAt > 2_000 && c.serving === 1 && c.starting === 0 && c.stopping === 0) phase = 'done';
        return t < 1_000 ? 6 : phase === 'high' ? 40 : 4;
      },
      stopWhen: () => phase === 'done',
      durationMs: 80_000,
    });
    const h = auto.history;
    const trace = h.map((r) => `${(r.t / 1000).toFixed(1)}s ${r.serving}+${r.starting}→${r.desired} (${r.qpsPerReplica.toFixed(0)}/s)`).join(', ');
    expect(ramp.failed, `${ramp.failed} of ${ramp.sent} requests failed: ${ramp.errors.join('; ')}`).toBe(0);
    expect(auto.startFailures).toEqual([]);
    expect(peak, `never more than ${peak} replica serving under 40 QPS (target 12 per replica): ${trace}`).toBeGreaterThanOrEqual(2);
    expect(phase, `the ramp ended (80 s) before the autoscaler was back to one replica: ${trace}`).toBe('done');
    expect(auto.pool.serving).toBe(1);
    expect(auto.replicaSeconds()).toBeGreaterThan(2);
  }, 120_000);
});
