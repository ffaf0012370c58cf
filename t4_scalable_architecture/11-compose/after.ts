/**
 * After: a health-gated bring-up, the order `docker-compose up` follows when every `depends_on` says
 * `condition: service_healthy` and every service something depends on has a healthcheck that asks "can you
 * answer?" (deploy/compose/compose.yml).
 *
 * 1. **Check the graph first.** A dependency on a service the stack does not define, or a cycle (a → b → a), is an
 *    error that names it, raised before anything starts: a cycle would otherwise wait forever.
 * 2. **Start a service once every dependency is ready**, not merely started: a shard started before NATS can serve its
 *    write log dies on start (and is restarted, seconds later); a gateway started before its shards answers 503.
 * 3. **Start what does not depend on each other at once**: the bring-up takes the longest dependency chain, not the
 *    sum of every service's start-up.
 * 4. **Return once every service is ready**: `up -d` returning means "every container started", and the first
 *    requests after it would fail. A service not ready within `readyTimeoutMs` is an error naming it.
 *
 * shared/deploy/compose.ts does 4 for the real stack (docker inspect until every container is `healthy`); Compose
 * itself does 2 and 3 from the file.
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

/** The graph's errors, before anything starts: unknown dependencies, then the first cycle found (its path). */
export function checkGraph(stack: readonly StackService[]): void {
  const byName = new Map(stack.map((s) => [s.name, s]));
  for (const s of stack) {
    for (const d of s.dependsOn) {
      if (!byName.has(d)) throw new Error(`${s.name} depends on "${d}", which the stack does not define`);
    }
  }
  const state = new Map<string, 'visiting' | 'done'>();
  const path: string[] = [];
  const visit = (name: string) => {
    if (state.get(name) === 'done') return;
    if (state.get(name) === 'visiting') {
      const cycle = [...path.slice(path.indexOf(name)), name];
      throw new Error(`dependency cycle: ${cycle.join(' → ')} (nothing was started)`);
    }
    state.set(name, 'visiting');
    path.push(name);
    for (const d of byName.get(name)!.dependsOn) visit(d);
    path.pop();
    state.set(name, 'done');
  };
  for (const s of stack) visit(s.name);
}

export async function bringUp(stack: readonly StackService[], runtime: Runtime, opts: BringUpOptions): Promise<BringUpResult> {
  const now = opts.now ?? (() => performance.now());
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  checkGraph(stack);
  const byName = new Map(stack.map((s) => [s.name, s]));
  const readyAt: Record<string, number> = {};
  const ready = new Map<string, Promise<void>>();

  // one promise per service: its dependencies ready → start → probe until ready (the graph is acyclic: checked)
  const up = (name: string): Promise<void> => {
    let p = ready.get(name);
    if (!p) {
      const deps = byName.get(name)!.dependsOn.map(up);
      p = (async () => {
        await Promise.all(deps);
        runtime.start(name);
        const t0 = now();
        while (!(await runtime.ready(name))) {
          if (now() - t0 > opts.readyTimeoutMs) throw new Error(`${name} was not ready ${opts.readyTimeoutMs} ms after its start`);
          await sleep(opts.probeIntervalMs);
        }
        readyAt[name] = now();
      })();
      ready.set(name, p);
    }
    return p;
  };
  await Promise.all(stack.map((s) => up(s.name)));
  return { readyAt };
}
