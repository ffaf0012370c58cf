/**
 * EXERCISE 11-compose: bring the stack up so that nothing starts before what it needs can answer, and say "up" only
 * when it is.
 *
 * As shipped it is before.ts: plain `depends_on` and `docker-compose up -d`. Services start in dependency order as
 * soon as their dependencies' containers run, and it returns once every container is started: shards start before
 * NATS serves JetStream (and die on connect), the gateway before its shards, and the client's first requests fail.
 *
 * `bringUp(stack, runtime, opts)` gets the stack (each service's `name` and `dependsOn`, as in
 * deploy/compose/compose.yml), a `runtime` (`start(name)` starts a container and returns at once; `ready(name)` is
 * its healthcheck, "can it answer?"; `live(name)` only says its process runs) and `opts` (`probeIntervalMs`,
 * `readyTimeoutMs`, and `now` / `sleep`: use them when given, the checkpoint runs your bring-up on a virtual clock).
 * Resolve with `{ readyAt }` (when you saw each service ready). Yours to decide: when a service may start, which
 * services start together, when the stack is up, and which stacks are refused.
 *
 * What must hold (checked by `npm run checkpoint -- 11-compose`: starts, readiness and requests counted in virtual
 * ms, nothing timed):
 *   - no service is started before every service it depends on is ready (not just started: `live` is not `ready`);
 *   - when it resolves every service is ready: a client querying from that moment gets no failed request;
 *   - services that do not depend on each other start together: the stack is ready within its longest dependency
 *     chain (3.5 s here) plus a probe interval per link, not the sum of every start-up;
 *   - a cycle (a → b → a) or a dependency on a service that does not exist is an error naming it, thrown before
 *     anything is started; a service never ready is an error naming it after `readyTimeoutMs`;
 *   - each service is started once.
 *
 * The real thing: the `depends_on` conditions and healthchecks of deploy/compose/compose.yml (Compose does the
 * gating) and shared/deploy/compose.ts `upStack` (waits until every container is healthy before it returns).
 *
 * Then see your bring-up's figures (failed requests, time to ready) beside before and after:
 *   npm run t4 -- --only 11-compose --impl exercise --quick
 * Stuck? npm run hint -- 11-compose
 */
/** One service of the stack (deploy/compose/compose.yml). */
export interface StackService {
  name: string;
  /** Services that must be ready before this one starts (its `depends_on`). */
  dependsOn: string[];
  /** The simulated world's time to ready once started with its dependencies ready, ms (the runtime's business). */
  readyMs?: number;
}

/** What the bring-up can do to a service (docker-compose's container operations, as the policy sees them). */
export interface Runtime {
  /** Creates and starts the service's container; returns at once (the process runs, it is not ready yet). */
  start(name: string): void;
  /** Its healthcheck (/readyz, `redis-cli ping`, `pg_isready`): true once it can answer. */
  ready(name: string): Promise<boolean>;
  /** Is its process running (docker's `running`, GET /healthz)? True long before it can answer. */
  live(name: string): Promise<boolean>;
}

export interface BringUpOptions {
  /** How often a starting service's `ready()` is asked, ms (compose.yml: healthcheck interval 1 s). */
  probeIntervalMs: number;
  /** A service not ready this long after its start is an error, ms. */
  readyTimeoutMs: number;
  /** Monotonic ms; default performance.now (the checkpoint injects a virtual clock). */
  now?: () => number;
  /** Waits `ms`; default a timer (the checkpoint injects a virtual clock). */
  sleep?: (ms: number) => Promise<void>;
}

export interface BringUpResult {
  /** When each service was seen ready, ms on `now()`. */
  readyAt: Record<string, number>;
}

/** The graph's errors, thrown before anything starts (an unknown dependency, a cycle). As shipped: none found. */
export function checkGraph(_stack: readonly StackService[]): void {}

export async function bringUp(stack: readonly StackService[], runtime: Runtime, opts: BringUpOptions): Promise<BringUpResult> {
  const now = opts.now ?? (() => performance.now());
  checkGraph(stack);
  const started = new Set<string>();
  while (started.size < stack.length) {
    const next = stack.filter((s) => !started.has(s.name) && s.dependsOn.every((d) => started.has(d)));
    if (next.length === 0) break; // what is left cannot be ordered: left out
    for (const s of next) {
      runtime.start(s.name);
      started.add(s.name);
    }
  }
  const t = now();
  return { readyAt: Object.fromEntries(stack.map((s) => [s.name, t])) };
}
