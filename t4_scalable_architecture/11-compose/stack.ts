/**
 * The composed stack as data: each service of deploy/compose/compose.yml, what it must find ready before it starts
 * (its `depends_on`), and how long it takes to become ready once started with its dependencies up (the simulated
 * world's figures, of the order measured on 2 shared cores: the shards load their part of the index and replay the
 * write log, the embedder maps its GloVe vectors, PostgreSQL runs initdb on a fresh volume).
 *
 * `composeGraph(yaml)` reads the same graph from the Compose file, so the checkpoint can prove the file and this
 * table agree, and that every dependency in the file waits for health (`condition: service_healthy`, or
 * `service_completed_successfully` for the one-shot snapshot-seed) of a service that has a healthcheck.
 */
import { parse } from 'yaml';
import type { StackService } from './after.ts';

/** The stack of deploy/compose/compose.yml; `readyMs`: time to ready when started with its dependencies ready. */
export const STACK: StackService[] = [
  { name: 'redis', dependsOn: [], readyMs: 300 },
  { name: 'nats', dependsOn: [], readyMs: 500 },
  { name: 'postgres', dependsOn: [], readyMs: 1_800 },
  { name: 'prometheus', dependsOn: [], readyMs: 700 },
  { name: 'snapshot-seed', dependsOn: [], readyMs: 400 },
  { name: 'embedder', dependsOn: ['snapshot-seed'], readyMs: 1_500 },
  { name: 'shard-0', dependsOn: ['snapshot-seed', 'nats'], readyMs: 2_500 },
  { name: 'shard-1', dependsOn: ['snapshot-seed', 'nats'], readyMs: 2_500 },
  { name: 'ingest', dependsOn: ['redis', 'nats', 'embedder'], readyMs: 600 },
  { name: 'gateway', dependsOn: ['redis', 'embedder', 'shard-0', 'shard-1'], readyMs: 500 },
];

/** What the client's answers need: a query goes gateway → embedder + every shard. */
export const QUERY_PATH = ['gateway', 'embedder', 'shard-0', 'shard-1'];

export interface ComposeEdge {
  service: string;
  dependsOn: string;
  /** `service_healthy`, `service_started` (a plain list entry), `service_completed_successfully`. */
  condition: string;
}

export interface ComposeGraph {
  services: string[];
  edges: ComposeEdge[];
  /** Services with a `healthcheck` (not `disable: true`). */
  healthchecked: string[];
  /** Each healthcheck's command, joined with spaces. */
  probes: Record<string, string>;
  /** `ports:` entries per service. */
  ports: Record<string, string[]>;
}

/** The dependency graph of a Compose file (format 2.x: `depends_on` as a list or a map with conditions). */
export function composeGraph(yamlText: string): ComposeGraph {
  const doc = parse(yamlText) as { services?: Record<string, Record<string, unknown>> };
  if (!doc?.services) throw new Error('not a Compose file: no services');
  const edges: ComposeEdge[] = [];
  const healthchecked: string[] = [];
  const probes: Record<string, string> = {};
  const ports: Record<string, string[]> = {};
  for (const [name, svc] of Object.entries(doc.services)) {
    const dep = svc.depends_on as string[] | Record<string, { condition?: string }> | undefined;
    if (Array.isArray(dep)) for (const d of dep) edges.push({ service: name, dependsOn: d, condition: 'service_started' });
    else if (dep) for (const [d, c] of Object.entries(dep)) edges.push({ service: name, dependsOn: d, condition: c?.condition ?? 'service_started' });
    const hc = svc.healthcheck as { test?: string[] | string; disable?: boolean } | undefined;
    if (hc && !hc.disable && hc.test) {
      healthchecked.push(name);
      probes[name] = Array.isArray(hc.test) ? hc.test.join(' ') : hc.test;
    }
    if (Array.isArray(svc.ports)) ports[name] = (svc.ports as unknown[]).map(String);
  }
  return { services: Object.keys(doc.services), edges, healthchecked, probes, ports };
}
