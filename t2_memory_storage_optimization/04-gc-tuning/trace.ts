/**
 * One query worker with the GC flags you give it and --trace-gc: prints the trace of one window of queries (one line
 * per GC: kind, heap used before -> after, pause, reason), then the window's summary as the benchmark measures it.
 *
 *     npx tsx t2_memory_storage_optimization/04-gc-tuning/trace.ts --semi 1 --old 96 [--queries 300] [--docs 6]
 *     npx tsx t2_memory_storage_optimization/04-gc-tuning/trace.ts            # Node's default GC settings
 */
import { MB, startWorker, traceWindow, type GcSettings } from './gc-kit.ts';

const arg = (name: string): string | undefined => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
};
const semi = arg('semi');
const old = arg('old');
if ((semi === undefined) !== (old === undefined)) throw new Error('give both --semi and --old (MB), or neither for the defaults');
const settings: GcSettings | undefined = semi ? { semiSpaceMB: Number(semi), oldSpaceMB: Number(old) } : undefined;
const queries = Number(arg('queries') ?? 300);

const w = await startWorker(settings, { docs: Number(arg('docs') ?? 6), concurrency: 8, warmup: 200, keep: 'none' }, { traceGc: true });
const s = await w.window(queries);
const out = await w.close();
for (const line of traceWindow(out, s.markers)) console.log(line.replace(/^\[\d+:0x[0-9a-f]+\]\s+/, ''));
const sorted = [...s.latencies].sort((a, b) => a - b);
console.log(
  `\n${queries} queries in ${s.wallMs.toFixed(0)} ms; GC ${s.gcMs.toFixed(1)} ms = ${((100 * s.gcMs) / s.wallMs).toFixed(1)}% of the time ` +
    `(${s.scavenges} scavenges, ${s.markCompacts} mark-compacts); ${(s.allocatedBytes / MB).toFixed(1)} MB allocated, ` +
    `${(s.allocatedBytes / MB / Math.max(1, s.profiledScavenges)).toFixed(1)} MB per scavenge; p99 ${sorted[Math.ceil(0.99 * sorted.length) - 1].toFixed(1)} ms; ` +
    `heap limit ${(w.heapLimitBytes / MB).toFixed(0)} MiB, live heap ${(w.liveHeapBytes / MB).toFixed(1)} MB`,
);
