/**
 * Figures several T3 benches take the same way: latency of one run per batch size with the variants in rotation,
 * and an output-cosine pair (mean, least) printed with six decimals.
 */
import type * as ort from 'onnxruntime-node';
import type { Metric } from '../lab/lesson.ts';
import { measured } from '../lab/metric.ts';

/**
 * `latency at batch B` (median of `runs`) for every session, for each batch size. Within a batch size the sessions
 * run in rotation after one warm-up run each, so load on the machine falls on all of them alike.
 */
export async function latencyAtBatches(
  sessions: Record<string, ort.InferenceSession>,
  feeds: (batch: number) => Record<string, ort.Tensor>,
  batches: readonly number[],
  runs: number,
  note: string,
): Promise<Metric[]> {
  const names = Object.keys(sessions);
  const metrics: Metric[] = [];
  for (const batch of batches) {
    const f = feeds(batch);
    for (const name of names) await sessions[name].run(f); // warm-up
    const times = new Map<string, number[]>(names.map((n) => [n, []]));
    for (let r = 0; r < runs; r++) {
      for (const name of names) {
        const t0 = performance.now();
        await sessions[name].run(f);
        times.get(name)!.push(performance.now() - t0);
      }
    }
    for (const name of names) {
      metrics.push(measured(`latency at batch ${batch}`, 'ms', times.get(name)!, { variant: name, stat: 'median', note: `${note}; median of ${runs}` }));
    }
  }
  return metrics;
}

/**
 * `<name>, mean` and `<name>, least` over `cos` for one variant. Cosines near 1 print as "1.00" in a 3-digit table,
 * so the notes carry six decimals: `over` says what they were taken over, `note` what the model's outputs mean.
 */
export function cosineMetrics(name: string, cos: number[], variant: string, over: string, note: string): Metric[] {
  const mean = cos.reduce((a, b) => a + b, 0) / cos.length;
  return [
    measured(`${name}, mean`, '', cos, { variant, note: `${mean.toFixed(6)} over ${over}; ${note}` }),
    measured(`${name}, least`, '', cos, { variant, stat: 'min', note: `${Math.min(...cos).toFixed(6)}; ${note}` }),
  ];
}
