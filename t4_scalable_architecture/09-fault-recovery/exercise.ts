/**
 * EXERCISE 09-fault-recovery: keep a service alive through kill -9 without spinning or sending traffic to a child
 * that is still loading.
 *
 * As shipped it is before.ts: the child is started once, given traffic once ready, and when it dies it stays dead.
 * The gateway's flagged partial answers hide the first loss; nothing brings the shard back.
 *
 * `keepAlive(spawn, traffic, policy)` gets `spawn()` (starts a child: its `pid`, `exited`, `ready()` = one
 * readiness probe, `kill()`), `traffic` (the address the gateway calls: `open()` gives the child traffic, `close()`
 * leaves it out, which the gateway answers as a flagged partial answer) and the `policy` (`restartDelayMs`,
 * `maxRestartDelayMs`, `stableMs`, `probeIntervalMs`, `readyTimeoutMs`, and `now` / `sleep`: use them when given,
 * the checkpoint runs your policy on a virtual clock). Return `{ restarts, stop() }`. Yours to decide: when a child is
 * given traffic, when a dead one is started again, and how long to wait when it keeps dying.
 *
 * What must hold (checked by `npm run checkpoint -- 09-fault-recovery`: starts, waits and answers counted in virtual
 * ms, nothing timed; children take 300 ms to load):
 *   - a killed child is started again after `restartDelayMs` (100 ms) and given traffic within one probe of ready;
 *   - no request ever reaches a child that is not ready yet (it would answer from an empty index, unflagged);
 *   - during the outage every answer is complete or flagged, never a 5xx, and complete again once it is back;
 *   - a child that crashes 50 ms after every start is started again after waits that double up to
 *     `maxRestartDelayMs` (about 13 starts in 20 s, at most 20, never given traffic), not ~400 times;
 *   - after a run longer than `stableMs`, the next kill is restarted after the first wait again.
 *
 * classifyAnswer (how the fault run judges an answer) is the engine's: shared/services/fault-run.ts.
 * shared/services/supervisor.ts is the real thing, for real processes (`launch`, `waitReady`, `onExit`).
 *
 * Then see your policy's figures (simulated crash loop, requests to a loading child) beside before and after:
 *   npm run t4 -- --only 09-fault-recovery --impl exercise --quick
 * Stuck? npm run hint -- 09-fault-recovery
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


export function keepAlive(spawn: () => ChildHandle, traffic: Traffic, policy: RestartPolicy): Keeper {
  const sleep = policy.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  let stopped = false;
  const child = spawn();
  let gone = false;
  void child.exited.then(() => (gone = true));
  void (async () => {
    while (!stopped && !gone && !(await child.ready())) await sleep(policy.probeIntervalMs);
    if (!stopped && !gone) traffic.open();
    await child.exited;
    traffic.close();
  })();
  return {
    restarts: 0,
    stop() {
      stopped = true;
      child.kill();
    },
  };
}
