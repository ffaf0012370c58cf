/**
 * Checkpoint for 11-compose: the bring-up policy (`bringUp`) and the Compose file that applies it.
 * `npm run checkpoint -- 11-compose` runs it against exercise.ts; plain `npx vitest run` checks before.ts (plain
 * depends_on and `up -d`: only the graph checks apply) and after.ts.
 *
 * The policy runs in sim.ts's world: a virtual clock, the stack of deploy/compose/compose.yml as fake containers with
 * their start-up times (stack.ts), and a client querying the gateway every 10 ms from the moment the bring-up
 * returns. Starts, readiness and requests are counted in virtual ms, nothing is timed. Docker is not needed: the real
 * stack's bring-up is shared/deploy/compose.test.ts (skipped without Docker) and the bench's full run.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { implementations } from '../../shared/lab/checkpoint.ts';
import { REPO_ROOT } from '../../shared/util/paths.ts';
import type { StackService } from './after.ts';
import { simulate } from './sim.ts';
import { composeGraph, STACK } from './stack.ts';

type Mod = typeof import('./after.ts');

const PROBE_MS = 100;
const list = (xs: string[]) => (xs.length > 4 ? `${xs.slice(0, 4).join(', ')} and ${xs.length - 4} more` : xs.join(', '));

describe.each(await implementations<Mod>(import.meta.url))('%s', (name, impl) => {
  const gated = name !== 'before';

  it.skipIf(!gated)('starts no service before every service it depends on is ready', async () => {
    const { world } = await simulate(impl.bringUp, STACK, { probeIntervalMs: PROBE_MS });
    const e = world.early[0];
    expect(
      world.early.length,
      e &&
        `${world.early.length} service(s) started before a dependency could answer: ${e.service} was started at ${e.at} ms, ${e.notReady
          .map((d) => `${d} ${world.startedAt.has(d) ? `(started at ${world.startedAt.get(d)} ms)` : '(not started)'}`)
          .join(' and ')} before it was ready: a dependency must be ready (its healthcheck, condition: service_healthy), not just started`,
    ).toBe(0);
    expect(world.doubleStarts, `${world.doubleStarts} start(s) of a service that was already started`).toBe(0);
  });

  it.skipIf(!gated)('resolves only once every service is ready: no request sent after it fails', async () => {
    const run = await simulate(impl.bringUp, STACK, { probeIntervalMs: PROBE_MS });
    expect(run.error, `bringUp failed on the compose stack: ${run.error?.message}`).toBeUndefined();
    expect(run.returnedAt, 'bringUp never resolved').toBeDefined();
    const w = run.world;
    const notReady = STACK.map((s) => s.name).filter((s) => !(w.readyAt.has(s) && w.readyAt.get(s)! <= run.returnedAt!));
    const failed = w.queries.filter((q) => !q.ok);
    expect(
      failed.length,
      `bringUp resolved at ${run.returnedAt} ms with ${notReady.length} service(s) not ready (${list(notReady)}): ${failed.length} of ${w.queries.length} requests sent after it failed; "up -d" returning is not the stack being ready`,
    ).toBe(0);
    expect(notReady, 'services not ready when bringUp resolved').toEqual([]);
  });

  it.skipIf(!gated)('starts independent services together: ready within the longest dependency chain', async () => {
    const run = await simulate(impl.bringUp, STACK, { probeIntervalMs: PROBE_MS });
    const w = run.world;
    const bound = w.criticalPathMs() + PROBE_MS * w.depth();
    const at = run.returnedAt ?? Infinity;
    expect(
      at,
      `the stack was up at ${at} ms; its longest dependency chain needs ${w.criticalPathMs()} ms (+ ${PROBE_MS} ms per link to see each ready: ${bound} ms): services that do not depend on each other were started one after another`,
    ).toBeLessThanOrEqual(bound);
  });

  it('refuses a graph that can never come up, naming the problem, before starting anything', async () => {
    const cycle: StackService[] = [
      { name: 'db', dependsOn: [], readyMs: 100 },
      { name: 'api', dependsOn: ['db', 'worker'], readyMs: 100 },
      { name: 'worker', dependsOn: ['api'], readyMs: 100 },
    ];
    const run = await simulate(impl.bringUp, cycle, { probeIntervalMs: PROBE_MS, untilMs: 60_000 });
    const started = [...run.world.startedAt.keys()];
    const outcome = run.error ? `an error: "${run.error.message}"` : run.returnedAt !== undefined ? `"up" at ${run.returnedAt} ms` : 'still waiting after 60 s';
    expect(run.error?.message ?? '', `a dependency cycle is an error naming it (api → worker → api), thrown before anything starts; got ${outcome}, started: ${started.join(', ') || 'nothing'}`).toMatch(
      /api[^]*worker|worker[^]*api/,
    );
    expect(started, `a dependency cycle is an error before anything starts: ${list(started)} were started`).toEqual([]);

    const typo: StackService[] = [
      { name: 'nats', dependsOn: [], readyMs: 100 },
      { name: 'shard', dependsOn: ['nast'], readyMs: 100 },
    ];
    const t = await simulate(impl.bringUp, typo, { probeIntervalMs: PROBE_MS, untilMs: 60_000 });
    expect(t.error?.message ?? '', `a dependency on a service nobody defines ("nast") must be an error naming it; got ${t.error ? `"${t.error.message}"` : t.returnedAt !== undefined ? '"up"' : 'a wait that never ends'}`).toMatch(/nast/);
    expect([...t.world.startedAt.keys()], 'a stack with an unknown dependency started services anyway').toEqual([]);
  });

  it.skipIf(!gated)('a service that never gets ready is an error naming it, not a wait forever', async () => {
    const run = await simulate(impl.bringUp, STACK, { probeIntervalMs: PROBE_MS, readyTimeoutMs: 5_000, untilMs: 30_000, setup: (w) => w.neverReady.add('shard-1') });
    expect(run.error?.message ?? '', `shard-1 never got ready: bringUp ${run.returnedAt === undefined ? 'was still waiting after 30 s' : run.error ? `failed with "${run.error.message}"` : 'said the stack was up'}`).toMatch(/shard-1/);
    expect(run.world.startedAt.has('gateway'), 'the gateway was started although shard-1, which it needs, never got ready').toBe(false);
  });
});

// The Compose file itself applies the policy: checked statically, no Docker needed.
describe('deploy/compose/compose.yml', () => {
  const graph = composeGraph(readFileSync(path.join(REPO_ROOT, 'deploy/compose/compose.yml'), 'utf8'));

  it('has the services and dependencies of stack.ts', () => {
    expect([...graph.services].sort()).toEqual(STACK.map((s) => s.name).sort());
    const fileEdges = graph.edges.map((e) => `${e.service} → ${e.dependsOn}`).sort();
    const tableEdges = STACK.flatMap((s) => s.dependsOn.map((d) => `${s.name} → ${d}`)).sort();
    expect(fileEdges).toEqual(tableEdges);
  });

  it('gates every dependency on health, and every service depended on has a readiness healthcheck', () => {
    const plain = graph.edges.filter((e) => e.condition !== 'service_healthy' && !(e.dependsOn === 'snapshot-seed' && e.condition === 'service_completed_successfully'));
    expect(plain.map((e) => `${e.service} → ${e.dependsOn} (${e.condition})`), 'dependencies that do not wait for health').toEqual([]);
    const needed = [...new Set(graph.edges.filter((e) => e.condition === 'service_healthy').map((e) => e.dependsOn))];
    expect(needed.filter((s) => !graph.healthchecked.includes(s)), 'services depended on without a healthcheck').toEqual([]);
    // the engine's services are probed on /readyz (can answer), never /healthz (the process runs)
    for (const s of ['gateway', 'embedder', 'shard-0', 'shard-1', 'ingest']) expect(graph.probes[s], `${s}'s healthcheck`).toMatch(/\/readyz/);
  });

  it('limits, hardens and keeps state in named volumes; holds no secret', () => {
    const text = readFileSync(path.join(REPO_ROOT, 'deploy/compose/compose.yml'), 'utf8');
    const doc = parse(text, { merge: true }) as { services: Record<string, Record<string, unknown>>; volumes: Record<string, unknown> };
    for (const [name, svc] of Object.entries(doc.services)) {
      expect(svc.read_only, `${name}: read_only root filesystem`).toBe(true);
      if (name === 'snapshot-seed') continue; // one-shot
      expect(svc.cpus, `${name}: cpus`).toBeGreaterThan(0);
      expect(String(svc.mem_limit), `${name}: mem_limit`).toMatch(/^\d+[mg]$/);
      expect(svc.restart, `${name}: restart policy`).toBe('unless-stopped');
    }
    expect(Object.keys(doc.volumes).sort()).toEqual(['nats-data', 'pg-data', 'prom-data', 'snapshots']);
    const mounts = (s: string) => ((doc.services[s].volumes as string[]) ?? []).map((v) => v.split(':').slice(0, 2).join(':'));
    expect(mounts('nats')).toContain('nats-data:/data/jetstream');
    expect(mounts('postgres')).toContain('pg-data:/var/lib/postgresql/data');
    for (const s of ['shard-0', 'shard-1']) expect(mounts(s)).toContain('snapshots:/data');
    // secrets come from the environment of docker-compose, required (`:?`), never a value in the file
    for (const v of ['RAG_INTERNAL_TOKEN', 'RAG_POSTGRES_PASSWORD', 'RAG_GATEWAY_SERVER']) expect(text).toMatch(new RegExp(`\\$\\{${v}:\\?`));
    expect(text, 'a secret written in the file').not.toMatch(/^\s*\w*(TOKEN|PASSWORD|SECRET):\s+(?!\$\{)\S/m);
  });

  it('publishes only the gateway and Prometheus, on 127.0.0.1, on a port the OS picks', () => {
    expect(Object.keys(graph.ports).sort()).toEqual(['gateway', 'prometheus']);
    for (const [s, ports] of Object.entries(graph.ports)) for (const p of ports) expect(p, `${s} publishes ${p}`).toMatch(/^127\.0\.0\.1::\d+$/);
  });
});
