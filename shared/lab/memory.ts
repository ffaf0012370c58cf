/**
 * Memory probes for `options.memory`: heap/RSS growth around a measured window and the GC pauses that fell inside it
 * (PerformanceObserver 'gc' entries, attributed by start time).
 */
import { PerformanceObserver, performance, type PerformanceEntry } from 'node:perf_hooks';
import { setImmediate as tick } from 'node:timers/promises';

export interface MemoryWindow {
  heapDelta: number;
  rssDelta: number;
  gcCount: number;
  gcPauseMs: number;
}

/** Records every GC while open. `measure` wraps a window of work and reports what happened inside it. */
export class GcRecorder {
  private readonly entries: Array<{ start: number; duration: number }> = [];
  private readonly observer: PerformanceObserver;

  constructor() {
    this.observer = new PerformanceObserver((list) => {
      for (const e of list.getEntries() as PerformanceEntry[]) this.entries.push({ start: e.startTime, duration: e.duration });
    });
    this.observer.observe({ entryTypes: ['gc'] });
  }

  async measure(work: () => Promise<void>): Promise<MemoryWindow> {
    const m0 = process.memoryUsage();
    const t0 = performance.now();
    await work();
    const t1 = performance.now();
    const m1 = process.memoryUsage();
    // GC entries are delivered asynchronously: let the observer callback run before reading them.
    await tick();
    await tick();
    let gcCount = 0;
    let gcPauseMs = 0;
    for (const e of this.entries) {
      if (e.start >= t0 && e.start <= t1) {
        gcCount++;
        gcPauseMs += e.duration;
      }
    }
    return { heapDelta: m1.heapUsed - m0.heapUsed, rssDelta: m1.rss - m0.rss, gcCount, gcPauseMs };
  }

  close(): void {
    this.observer.disconnect();
  }
}
