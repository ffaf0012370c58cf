/**
 * The simulated world the checkpoint (and the bench's simulated rows) runs a restart policy in: a virtual clock,
 * fake children that take `loadMs` to become ready and can be killed or made to crash, the address a supervisor
 * opens to traffic and closes, and a client asking a two-shard gateway every `everyMs`. Shard 0 always answers;
 * shard 1 is the supervised child. Nothing is timed: starts, waits and answers are counted in virtual ms.
 *
 * How shard 1 answers, as the real services would:
 * - address closed (no process listening): the gateway is refused at once and leaves the shard out, **flagged**
 *   partial (`partial: true`);
 * - open, child ready: its hits, the answer is **complete**;
 * - open, child still loading: it answers 200 with nothing (its index is not loaded yet), so the gateway's answer
 *   misses shard 1's hits **without saying so**: the silent partial answer readiness exists to prevent;
 * - open, child dead (exited, the supervisor not yet told): refused, flagged partial.
 */
import type { Answer } from '../../shared/services/fault-run.ts';
import type { ChildHandle, Traffic } from './after.ts';

/** Timers in virtual ms; `runUntil` fires them in order, letting promises settle between two. */
export class VirtualClock {
  t = 0;
  private timers: { at: number; seq: number; fn: () => void }[] = [];
  private seq = 0;
  readonly now = (): number => this.t;
  readonly sleep = (ms: number): Promise<void> => new Promise((r) => this.at(this.t + Math.max(0, ms), r));

  at(t: number, fn: () => void): void {
    this.timers.push({ at: Math.max(t, this.t), seq: this.seq++, fn });
  }

  async runUntil(end: number): Promise<void> {
    for (;;) {
      await new Promise((r) => setImmediate(r));
      let best = -1;
      for (let i = 0; i < this.timers.length; i++) {
        const x = this.timers[i];
        if (x.at > end) continue;
        if (best < 0 || x.at < this.timers[best].at || (x.at === this.timers[best].at && x.seq < this.timers[best].seq)) best = i;
      }
      if (best < 0) break;
      const [timer] = this.timers.splice(best, 1);
      this.t = timer.at;
      timer.fn();
    }
    this.t = end;
  }
}

export interface SimChild {
  pid: number;
  startedAt: number;
  loadMs: number;
  alive: boolean;
  exitedAt?: number;
  exit(signal: string | null, code: number | null): void;
}

export interface SimAnswer {
  at: number;
  answer: Answer;
  /** This request reached shard 1 while it was loading (not ready). */
  reachedLoading: boolean;
}

/** Shard 0's hits and shard 1's: a complete answer has both, in this order. */
export const EXPECTED = ['s0-a', 's1-a', 's0-b', 's1-b'];

export class World {
  readonly clock = new VirtualClock();
  readonly children: SimChild[] = [];
  /** Time to ready of the next children, virtual ms. */
  loadMs = 300;
  /** When set, the next children crash this long after they start (a corrupt file, a bad config): a crash loop. */
  crashAfterMs: number | undefined;
  open = false;
  readonly opened: number[] = [];
  readonly closed: number[] = [];
  readonly answers: SimAnswer[] = [];
  private nextPid = 1000;

  /** What the policy under test is given to start a child. */
  readonly spawn = (): ChildHandle => {
    const clock = this.clock;
    let resolveExit!: (how: { code: number | null; signal: string | null }) => void;
    const exited = new Promise<{ code: number | null; signal: string | null }>((r) => (resolveExit = r));
    const child: SimChild = {
      pid: this.nextPid++,
      startedAt: clock.t,
      loadMs: this.loadMs,
      alive: true,
      exit: (signal, code) => {
        if (!child.alive) return;
        child.alive = false;
        child.exitedAt = clock.t;
        resolveExit({ code, signal });
      },
    };
    this.children.push(child);
    if (this.crashAfterMs !== undefined) clock.at(clock.t + this.crashAfterMs, () => child.exit(null, 1));
    return {
      pid: child.pid,
      exited,
      ready: async () => child.alive && clock.t >= child.startedAt + child.loadMs,
      kill: () => clock.at(clock.t, () => child.exit('SIGKILL', null)),
    };
  };

  /** The address the policy opens to traffic once the child is ready, and closes when it exits. */
  readonly traffic: Traffic = {
    open: () => {
      this.open = true;
      this.opened.push(this.clock.t);
    },
    close: () => {
      this.open = false;
      this.closed.push(this.clock.t);
    },
  };

  /** kill -9 the current child at virtual time `t`. */
  killAt(t: number): void {
    this.clock.at(t, () => this.children[this.children.length - 1]?.exit('SIGKILL', null));
  }

  /** A search through the two-shard gateway every `everyMs`, from `from` to `to`. */
  clientEvery(everyMs: number, from: number, to: number): void {
    for (let t = from; t < to; t += everyMs) this.clock.at(t, () => this.answers.push(this.ask()));
  }

  private ask(): SimAnswer {
    const t = this.clock.t;
    const child = this.children[this.children.length - 1];
    const s0 = [{ chunkId: 's0-a' }, { chunkId: 's0-b' }];
    const flagged: Answer = { status: 200, body: { hits: s0, partial: true, degraded: ['shards-missing'] } };
    if (!this.open || !child || !child.alive) return { at: t, answer: flagged, reachedLoading: false };
    if (t < child.startedAt + child.loadMs) return { at: t, answer: { status: 200, body: { hits: s0, partial: false, degraded: [] } }, reachedLoading: true };
    return { at: t, answer: { status: 200, body: { hits: EXPECTED.map((chunkId) => ({ chunkId })), partial: false, degraded: [] } }, reachedLoading: false };
  }
}
