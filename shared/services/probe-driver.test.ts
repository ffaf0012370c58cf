/**
 * The probe driver (probe-driver.ts) against real processes (probe-driver.fixture.ts), and the engine's graceful
 * shutdown on SIGTERM (shard-service.ts `serviceMain`: readiness off, RAG_PRESTOP_MS, drain). Counts and event
 * orders only, never timings.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Pool } from 'undici';
import { Pod, PodSet, type PodSpec } from './probe-driver.ts';

const FIXTURE = 'shared/services/probe-driver.fixture.ts';
const pods: Pod[] = [];
afterEach(async () => {
  await Promise.all(pods.splice(0).map((p) => p.stop()));
});

function pod(over: Partial<PodSpec> & { args?: string[] } = {}): Pod {
  const p = new Pod({
    name: 'fixture',
    script: FIXTURE,
    startup: { path: '/healthz', periodMs: 100, failureThreshold: 300, timeoutMs: 1_000 },
    readiness: { path: '/readyz', periodMs: 50, failureThreshold: 1, timeoutMs: 500 },
    terminationGraceMs: 3_000,
    restartDelayMs: 50,
    ...over,
  });
  pods.push(p);
  return p;
}

const kinds = (p: Pod) => p.events.map((e) => e.kind);

describe('probe driver', () => {
  it('starts a process, lists it as an endpoint once ready, restarts it on the same port after kill -9', async () => {
    const p = pod({ liveness: { path: '/healthz', periodMs: 100, failureThreshold: 3, timeoutMs: 500 } });
    const set = new PodSet([p]);
    await set.start(20_000);
    const url = p.url!;
    expect(set.endpoints()).toEqual([url]);
    const pid = p.events.find((e) => e.kind === 'start')!.detail!;
    process.kill(Number(pid.replace('pid ', '')), 'SIGKILL');
    await new Promise((r) => setTimeout(r, 200));
    await p.whenReady(20_000);
    expect(p.restarts, 'a crashed process is started again').toBe(1);
    expect(p.url, 'on the same port').toBe(url);
  }, 45_000);

  it('restarts a process whose liveness fails failureThreshold times in a row', async () => {
    const p = pod({ args: ['--unlive-after-ms', '1500'], liveness: { path: '/healthz', periodMs: 100, failureThreshold: 3, timeoutMs: 500 } });
    p.start();
    await p.whenReady(20_000);
    const until = performance.now() + 15_000;
    while (p.restarts === 0 && performance.now() < until) await new Promise((r) => setTimeout(r, 50));
    expect(kinds(p), 'liveness failing: the driver did not kill and restart it').toContain('liveness-kill');
    expect(p.restarts).toBeGreaterThanOrEqual(1);
  }, 45_000);

  it('a startup probe shorter than the start-up kills the process before it is ready (a slow start taken for a stuck one)', async () => {
    const p = pod({ args: ['--start-delay-ms', '3000'], startup: { path: '/healthz', periodMs: 100, failureThreshold: 5, timeoutMs: 200 } });
    p.start();
    const until = performance.now() + 10_000;
    while (!kinds(p).includes('startup-kill') && performance.now() < until) await new Promise((r) => setTimeout(r, 50));
    expect(kinds(p)).toContain('startup-kill');
    expect(kinds(p)).not.toContain('ready');
  }, 30_000);

  it('SIGTERM under serviceMain with RAG_PRESTOP_MS: readiness off first, calls still answered, in-flight calls finish, then exit', async () => {
    const p = pod({ env: { RAG_PRESTOP_MS: '600', RAG_DRAIN_MS: '3000' } });
    p.start();
    await p.whenReady(20_000);
    const client = new Pool(p.url!, { connections: 4 });
    const call = async (ms: number) => {
      try {
        const res = await client.request({ method: 'POST', path: '/rpc/hold', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ms }) });
        await res.body.text();
        return res.statusCode;
      } catch (err) {
        return (err as { code?: string }).code ?? 'error';
      }
    };
    const longCall = call(900); // in flight at SIGTERM, ends after preStop while draining
    await new Promise((r) => setTimeout(r, 50));
    const stopping = p.terminate();
    await new Promise((r) => setTimeout(r, 250));
    const duringPreStop = await call(0); // the balancer has not noticed yet: must still be answered
    const ready = await fetch(p.url! + '/readyz').then((r) => r.status, () => 0);
    expect(ready, '/readyz after SIGTERM, during the preStop delay').toBe(503);
    expect(duringPreStop, 'a call during the preStop delay').toBe(200);
    expect(await longCall, 'the call in flight at SIGTERM').toBe(200);
    await stopping;
    await client.close();
    const ev = kinds(p);
    expect(ev.indexOf('unready'), `events: ${ev.join(', ')}`).toBeLessThan(ev.lastIndexOf('exit'));
    expect(ev, 'needed SIGKILL: the drain did not end').not.toContain('sigkill');
  }, 45_000);
});
