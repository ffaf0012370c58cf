/**
 * Profile a function inside the running process with the inspector (the same V8 sampler `node --cpu-prof` uses),
 * for the benchmark's metrics: what share of a query's time goes to a given function.
 */
import { Session } from 'node:inspector/promises';
import type { CpuProfile } from './cpuprofile.ts';

/** Run `work` under the V8 CPU profiler (sampling every `intervalUs` µs) and return the profile. */
export async function profileInProcess(work: () => unknown, intervalUs = 200): Promise<CpuProfile> {
  const session = new Session();
  session.connect();
  try {
    await session.post('Profiler.enable');
    await session.post('Profiler.setSamplingInterval', { interval: intervalUs });
    await session.post('Profiler.start');
    let failure: unknown;
    try {
      await work();
    } catch (err) {
      failure = err;
    }
    const { profile } = await session.post('Profiler.stop');
    await session.post('Profiler.disable');
    if (failure !== undefined) throw failure;
    return profile as unknown as CpuProfile;
  } finally {
    session.disconnect();
  }
}
