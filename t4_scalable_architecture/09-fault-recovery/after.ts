/**
 * After: keep a service alive the way shared/services/supervisor.ts does (what `npm run t4:up` runs), reduced to the
 * policy: **restart with backoff, traffic only once ready, on the same address**.
 *
 * `keepAlive(spawn, traffic, policy)` starts a child with `spawn()`, polls its `ready()` every `probeIntervalMs`
 * and only then opens `traffic` (the address the gateway calls); when the child exits it closes `traffic`, waits,
 * and starts another. The wait doubles for each exit within `stableMs` of its start (a crash loop), from
 * `restartDelayMs` up to `maxRestartDelayMs`; a child that ran `stableMs` or more restarts after `restartDelayMs`
 * again. A child that is not ready within `readyTimeoutMs` is killed and counts as a crash.
 *
 * The answers the gateway gives meanwhile are judged by `classifyAnswer` (shared/services/fault-run.ts): a shard
 * left out is a flagged partial answer, available; what is not 200 is failed; an unflagged answer that misses hits
 * is wrong.
 */
export { classifyAnswer } from '../../shared/services/fault-run.ts';

/** A started child, as the policy sees it. */
export interface ChildHandle {
  pid: number;
  /** Settles when the process has exited, for any reason. */
  exited: Promise<{ code: number | null; signal: string | null }>;
  /** One readiness probe (GET /readyz → 200): true once the child can answer correctly. */
  ready(): Promise<boolean>;
  kill(): void;
}

/** The address the gateway sends to: open = give it traffic, closed = leave it out (flagged partial). */
export interface Traffic {
  open(): void;
  close(): void;
}

export interface RestartPolicy {
  /** The first restart's wait, ms (supervisor.ts: 100). */
  restartDelayMs: number;
  /** The longest wait, ms (supervisor.ts: 5,000). */
  maxRestartDelayMs: number;
  /** A child that ran this long before it exited restarts after the first delay again, ms (supervisor.ts: 10,000). */
  stableMs: number;
  /** How often `ready()` is asked while a child starts, ms (supervisor.ts: 50). */
  probeIntervalMs: number;
  /** A child not ready this long after its start is killed and counts as a crash, ms. */
  readyTimeoutMs: number;
  /** Monotonic ms; default performance.now (the checkpoint injects a virtual clock). */
  now?: () => number;
  /** Waits `ms`; default a timer (the checkpoint injects a virtual clock). */
  sleep?: (ms: number) => Promise<void>;
}

export interface Keeper {
  /** Children started after the first. */
  readonly restarts: number;
  /** Stops restarting and kills the current child. */
  stop(): void;
}

const realSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export function keepAlive(spawn: () => ChildHandle, traffic: Traffic, policy: RestartPolicy): Keeper {
  const now = policy.now ?? (() => performance.now());
  const sleep = policy.sleep ?? realSleep;
  let stopped = false;
  let restarts = 0;
  let crashesInRow = 0;
  let current: ChildHandle | undefined;

  const run = async () => {
    while (!stopped) {
      const child = spawn();
      current = child;
      const startedAt = now();
      let gone = false;
      void child.exited.then(() => (gone = true));
      // readiness: the address gets traffic only once the child says it can answer
      let ready = false;
      while (!stopped && !gone) {
        if (await child.ready()) {
          ready = true;
          break;
        }
        if (now() - startedAt >= policy.readyTimeoutMs) {
          child.kill();
          break;
        }
        await sleep(policy.probeIntervalMs);
      }
      if (ready && !stopped && !gone) traffic.open();
      await child.exited;
      traffic.close();
      if (stopped) return;
      // backoff: doubled for each exit within stableMs of its start, back to the first delay after a stable run
      crashesInRow = now() - startedAt < policy.stableMs ? crashesInRow + 1 : 1;
      const delay = Math.min(policy.maxRestartDelayMs, policy.restartDelayMs * 2 ** (crashesInRow - 1));
      restarts++;
      await sleep(delay);
    }
  };
  void run();
  return {
    get restarts() {
      return restarts;
    },
    stop() {
      stopped = true;
      current?.kill();
    },
  };
}
