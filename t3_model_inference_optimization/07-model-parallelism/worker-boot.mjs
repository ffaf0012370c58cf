// Entry file of a stage thread (plain JS, so any Node can load it): registers tsx's loader in this worker thread, then
// loads the TypeScript worker. Worker threads do not inherit the main thread's `--import tsx`, and vitest's transform
// does not reach them either; this makes the same threads start under `npx tsx`, `node --import tsx` and vitest
// (the approach of t1_performance_optimization/05-worker-pool/worker-boot.mjs).
import { register } from 'tsx/esm/api';

register();
await import(new URL('./stage-worker.ts', import.meta.url).href);
